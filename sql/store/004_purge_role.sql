-- The retention purge (`alpr-proxy retention purge`) deletes through its own role, never the
-- proxy's read-only store role: SELECT and DELETE on alpr.reads, nothing else (it also reads
-- this database's migration bookkeeping to check that alpr.reads is the table migrate made).
-- Granted only on that table: an operator's view over reads kept elsewhere is not ours to
-- delete from, and the purge refuses to run against it.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'alpr_proxy_purge') THEN
    CREATE ROLE alpr_proxy_purge LOGIN;
  END IF;
  GRANT USAGE ON SCHEMA alpr TO alpr_proxy_purge;
  GRANT SELECT ON public.alpr_proxy_migrations TO alpr_proxy_purge;
  IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'alpr' AND c.relname = 'reads' AND c.relkind = 'r')
     AND to_regclass('alpr.reads_plate_observed_idx') IS NOT NULL THEN
    GRANT SELECT, DELETE ON alpr.reads TO alpr_proxy_purge;
  END IF;
END
$$;
