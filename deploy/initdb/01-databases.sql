-- Run once by the postgres image on first start: the two databases alpr-proxy uses.
-- `alpr-proxy migrate` (the compose `migrate` service) creates the schemas, the least-privileged
-- roles alpr_proxy_store and alpr_proxy_audit, and the append-only triggers.
CREATE DATABASE alpr;
CREATE DATABASE audit;
