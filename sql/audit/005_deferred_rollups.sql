-- Rollups leave the append path. The statement trigger of 003 re-planned six dynamic upserts for
-- every batch: at the batch sizes a busy proxy makes (tens of entries) that was three quarters
-- of the audit database's CPU per search. Now audit.roll_up() folds every entry not yet rolled
-- up into the same rollup tables with the same statements (audit.rollup_statements), in large
-- ranges: the proxy calls it after each checkpoint, and every report or listing calls it
-- before taking its snapshot (proxy.oversight.period.snapshot), so reports stay exact up to
-- the moment they are asked for.
--
-- Entries commit in index order under the append lock, so the committed entries are always a
-- prefix 0..max(idx): "everything below next_idx is rolled up" is one number.

-- Taking the trigger away waits for in-flight appends (ACCESS EXCLUSIVE) and blocks new ones
-- until this migration commits, so everything counted below was rolled up by the trigger.
DROP TRIGGER IF EXISTS entries_rollup ON audit.entries;

CREATE TABLE IF NOT EXISTS audit.rollup_progress (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  next_idx  bigint NOT NULL CHECK (next_idx >= 0)   -- entries below this are in the rollups
);
INSERT INTO audit.rollup_progress (next_idx)
SELECT coalesce(max(idx) + 1, 0) FROM audit.entries
ON CONFLICT (singleton) DO NOTHING;

-- Returns the log size the rollups now cover. Concurrent callers queue on the progress row;
-- the second finds the work done. SECURITY DEFINER as the trigger was: the proxy's role can
-- read the rollups but never write them directly.
CREATE OR REPLACE FUNCTION audit.roll_up() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  lo bigint;
  hi bigint;
  q text;
BEGIN
  SELECT next_idx INTO lo FROM audit.rollup_progress FOR UPDATE;
  SELECT coalesce(max(idx) + 1, 0) INTO hi FROM audit.entries;
  IF hi > lo THEN
    FOREACH q IN ARRAY audit.rollup_statements(
        format('(SELECT * FROM audit.entries WHERE idx >= %s AND idx < %s)', lo, hi)) LOOP
      EXECUTE q;
    END LOOP;
    UPDATE audit.rollup_progress SET next_idx = hi;
  END IF;
  RETURN greatest(lo, hi);
END
$$;

REVOKE ALL ON FUNCTION audit.roll_up() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.roll_up() TO alpr_proxy_audit;
REVOKE ALL ON audit.rollup_progress FROM alpr_proxy_audit;
GRANT SELECT ON audit.rollup_progress TO alpr_proxy_audit;
