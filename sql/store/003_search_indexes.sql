-- Indexes for partial-plate and area searches. Only created on the table this project owns;
-- an operator whose alpr.reads is a view creates the equivalents on the underlying table
-- (README, "The store contract").
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'alpr' AND c.relname = 'reads' AND c.relkind = 'r') THEN
    -- Wildcard plate patterns: trigram GIN index serves LIKE with any run of known characters.
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX IF NOT EXISTS reads_plate_trgm_idx ON alpr.reads USING gin (plate gin_trgm_ops);
    -- Time ranges (partial-plate searches whose pattern gives the trigram index little to use).
    CREATE INDEX IF NOT EXISTS reads_observed_idx ON alpr.reads (observed_at);
    -- Area searches: "which vehicles passed here, then" = a bounding box and a time window.
    CREATE EXTENSION IF NOT EXISTS btree_gist;
    CREATE INDEX IF NOT EXISTS reads_location_time_idx
      ON alpr.reads USING gist (point(lon, lat), observed_at);
  END IF;
END
$$;
