-- The proxy reads the store through a role that can only SELECT.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'alpr_proxy_store') THEN
    CREATE ROLE alpr_proxy_store LOGIN;
  END IF;
END
$$;
GRANT USAGE ON SCHEMA alpr TO alpr_proxy_store;
GRANT SELECT ON ALL TABLES IN SCHEMA alpr TO alpr_proxy_store;
