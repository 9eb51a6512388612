-- The store contract (SPEC §4). Created only when alpr.reads does not exist yet: an operator
-- whose reads live elsewhere creates the view alpr.reads first, and this migration leaves it be.
CREATE SCHEMA IF NOT EXISTS alpr;

DO $$
BEGIN
  IF to_regclass('alpr.reads') IS NULL THEN
    CREATE TABLE alpr.reads (
      id          bigint PRIMARY KEY,
      plate       text NOT NULL CHECK (plate ~ '^[A-Z0-9]{1,10}$'),
      plate_state text CHECK (plate_state IS NULL OR plate_state ~ '^[A-Z]{2}$'),
      observed_at timestamptz NOT NULL,
      lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
      lon         double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
      camera_id   text NOT NULL,
      agency_ori  text NOT NULL
    );
    -- Exact plate searches: one index range scan, already newest first.
    CREATE INDEX reads_plate_observed_idx ON alpr.reads (plate, observed_at DESC);
  END IF;
END
$$;
