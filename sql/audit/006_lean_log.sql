-- The log table keeps only what is verified: each entry's canonical bytes and the tree hashes
-- that appending it completed. Everything derived for oversight moves to audit.entry_facts,
-- filled behind the log in large chunks (proxy/audit/facts.py), as the rollups already are
-- (005). An append is then one narrow row per entry with one index: at the batch sizes a busy
-- proxy makes, that more than halved the audit database's CPU per append.
--
-- Existing data moves exactly: the derived columns as they are, the stored hashes byte for
-- byte. Nothing appends, catches up or rolls up until this transaction commits.
LOCK TABLE audit.entries, audit.tree_hashes IN ACCESS EXCLUSIVE MODE;

-- 1. Facts: the former query columns, one row per entry, in a table of their own. Still a
-- convenience view of `body`; the verifier never reads it.
CREATE TABLE audit.entry_facts (
  idx               bigint PRIMARY KEY,
  event             text,                -- NULL: the body is not an object naming its event
  request_id        text,
  agency            text,                -- the requester
  decision          text,
  reason            text,
  at                timestamptz,         -- the entry's `time`
  subject           text,
  purpose           text,
  on_behalf_of      text,                -- the on-behalf-of ORI
  plate             text,                -- normalised plate or pattern asked
  reads_returned    integer,
  owners            text[],              -- agencies whose reads it disclosed
  owner_reads       integer[],           -- reads per owner, same order
  concerns          text[],              -- requester, on-behalf-of, owners
  justification_key bytea,               -- 16 bytes of SHA-256, normalised
  reviewed_index    bigint,              -- review entries
  disposition       text
);
INSERT INTO audit.entry_facts
SELECT idx, event, request_id, agency, decision, reason, at, subject, purpose, on_behalf_of,
       plate, reads_returned, owners, owner_reads, concerns, justification_key, reviewed_index,
       disposition
FROM audit.entries ORDER BY idx;

-- 2. ... and off the log table, with their indexes (dropping a column rewrites nothing).
DROP INDEX audit.entries_event_idx, audit.entries_at_idx, audit.entries_agency_at_idx,
  audit.entries_subject_at_idx, audit.entries_plate_at_idx, audit.entries_obo_at_idx,
  audit.entries_reason_at_idx, audit.entries_owners_idx, audit.entries_concerns_idx,
  audit.entries_reviewed_idx, audit.entries_refused_at_idx, audit.entries_obo_search_at_idx,
  audit.entries_justification_idx;
ALTER TABLE audit.entries
  DROP COLUMN event, DROP COLUMN request_id, DROP COLUMN agency, DROP COLUMN decision,
  DROP COLUMN reason, DROP COLUMN at, DROP COLUMN subject, DROP COLUMN purpose,
  DROP COLUMN on_behalf_of, DROP COLUMN plate, DROP COLUMN reads_returned, DROP COLUMN owners,
  DROP COLUMN owner_reads, DROP COLUMN concerns, DROP COLUMN justification_key,
  DROP COLUMN reviewed_index, DROP COLUMN disposition;

-- 3. Each entry carries the stored hashes it completed (Go tlog layout, proxy/audit/tree.py):
-- entry n wrote stored-hash indexes 2n - popcount(n) onwards, 1 + trailing_zeros(n + 1) of
-- them, level 0 first; here they are concatenated, 32 bytes each, in that order. A proof's
-- hash at stored index i is then a slice of one row (proxy.audit.pg.read_hashes).
ALTER TABLE audit.entries ADD COLUMN hashes bytea;

-- Only the new column is set (body, idx and recorded_at are untouched); the append-only
-- trigger is suspended for this one statement inside the migration's transaction.
ALTER TABLE audit.entries DISABLE TRIGGER entries_no_update_delete;
UPDATE audit.entries e SET hashes = h.hashes
FROM (
  SELECT s.idx, string_agg(t.hash, ''::bytea ORDER BY t.idx) AS hashes
  FROM (SELECT idx, 2 * idx - bit_count(idx::bit(64)) AS first,
               1 + bit_count((((idx + 1) & -(idx + 1)) - 1)::bit(64)) AS count
        FROM audit.entries) s
  JOIN audit.tree_hashes t ON t.idx >= s.first AND t.idx < s.first + s.count
  GROUP BY s.idx
) h
WHERE e.idx = h.idx;
ALTER TABLE audit.entries ENABLE ALWAYS TRIGGER entries_no_update_delete;

-- A stored hash that has no place in its entry's row (missing, extra, beyond the log) would be
-- lost here, and with it the evidence `alpr-proxy audit verify` reports: refuse instead, and
-- change nothing.
DO $$
DECLARE
  bad bigint;
  held bigint;
  moved bigint;
BEGIN
  SELECT min(idx) INTO bad FROM audit.entries
  WHERE hashes IS NULL
     OR length(hashes) <> 32 * (1 + bit_count((((idx + 1) & -(idx + 1)) - 1)::bit(64)));
  SELECT count(*) INTO held FROM audit.tree_hashes;
  SELECT coalesce(sum(length(hashes)), 0) / 32 INTO moved FROM audit.entries;
  IF bad IS NOT NULL OR held <> moved THEN
    RAISE EXCEPTION 'audit.tree_hashes does not match audit.entries (first entry without its '
      'stored hashes: %; % stored hashes, % in place): nothing was migrated; run '
      '`alpr-proxy audit verify` on this log', bad, held, moved;
  END IF;
END
$$;
ALTER TABLE audit.entries ALTER COLUMN hashes SET NOT NULL;
DROP TABLE audit.tree_hashes;

-- Facts describe real entries only (checked once here, in one pass, then per insert): a stray
-- row for a future index would otherwise stop the catch-up, which resumes after the last fact.
ALTER TABLE audit.entry_facts
  ADD CONSTRAINT entry_facts_idx_fkey FOREIGN KEY (idx) REFERENCES audit.entries (idx);

-- The oversight indexes of 002 and 003, as they were, on the facts.
CREATE INDEX entry_facts_event_idx ON audit.entry_facts (event, idx);
CREATE INDEX entry_facts_at_idx ON audit.entry_facts (at);
CREATE INDEX entry_facts_agency_at_idx ON audit.entry_facts (agency, at);
CREATE INDEX entry_facts_subject_at_idx ON audit.entry_facts (subject, at);
CREATE INDEX entry_facts_plate_at_idx ON audit.entry_facts (plate, at) WHERE plate IS NOT NULL;
CREATE INDEX entry_facts_obo_at_idx ON audit.entry_facts (on_behalf_of, at)
  WHERE on_behalf_of IS NOT NULL;
CREATE INDEX entry_facts_reason_at_idx ON audit.entry_facts (reason, at)
  INCLUDE (idx, event, concerns) WHERE reason IS NOT NULL;
CREATE INDEX entry_facts_owners_idx ON audit.entry_facts USING gin (owners);
CREATE INDEX entry_facts_concerns_idx ON audit.entry_facts USING gin (concerns);
CREATE INDEX entry_facts_reviewed_idx ON audit.entry_facts (reviewed_index, idx)
  WHERE reviewed_index IS NOT NULL;
CREATE INDEX entry_facts_refused_at_idx ON audit.entry_facts (at) INCLUDE (idx, concerns)
  WHERE event = 'search' AND decision = 'refused';
CREATE INDEX entry_facts_obo_search_at_idx ON audit.entry_facts (at) INCLUDE (idx, concerns)
  WHERE event = 'search' AND on_behalf_of IS NOT NULL;
CREATE INDEX entry_facts_justification_idx
  ON audit.entry_facts (justification_key, at) INCLUDE (idx, agency, subject, concerns)
  WHERE event = 'search' AND justification_key IS NOT NULL;

-- Append-only like the log (001): the proxy's role inserts facts and reads them, nothing more.
CREATE TRIGGER entry_facts_no_update_delete BEFORE UPDATE OR DELETE ON audit.entry_facts
  FOR EACH ROW EXECUTE FUNCTION audit.reject_change();
ALTER TABLE audit.entry_facts ENABLE ALWAYS TRIGGER entry_facts_no_update_delete;
CREATE TRIGGER entry_facts_no_truncate BEFORE TRUNCATE ON audit.entry_facts
  FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_change();
ALTER TABLE audit.entry_facts ENABLE ALWAYS TRIGGER entry_facts_no_truncate;
REVOKE ALL ON audit.entry_facts FROM alpr_proxy_audit;
GRANT SELECT, INSERT ON audit.entry_facts TO alpr_proxy_audit;

-- 4. One batch, one statement (proxy/audit/pg.py), as in 004 but with the entries' bodies, and
-- the stored hashes each completed, as two byte strings with each entry's end offset in them:
-- asyncpg encodes one large bytea far faster than a bytea[] of thousands (its send buffer grows
-- in small steps), and PostgreSQL slices it for less than it unpacks an array. Takes the
-- sequence lock ("log1", proxy.audit.pg.APPEND_LOCK), returns the size it found, and appends
-- only when that is expected_size.
DROP FUNCTION audit.append_entries(bigint, bytea[], text[], text[], text[], text[], text[],
  timestamptz[], text[], text[], text[], text[], integer[], text[], integer[], integer[],
  integer[], text[], integer[], integer[], bytea[], bigint[], text[], bigint[], bytea[]);
CREATE FUNCTION audit.append_entries(expected_size bigint, bodies bytea, body_ends integer[],
                                     hashes bytea, hash_ends integer[])
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  found_size bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(1819240241);
  SELECT coalesce(max(idx) + 1, 0) INTO found_size FROM audit.entries;
  IF found_size <> expected_size THEN
    RETURN found_size;
  END IF;
  -- Entry n (1-based) spans (ends[n-1], ends[n]]; ends[0] is NULL, i.e. 0.
  INSERT INTO audit.entries (idx, body, hashes)
  SELECT expected_size + u.n - 1,
         substring(bodies FROM coalesce(body_ends[u.n - 1], 0) + 1
                          FOR u.body_end - coalesce(body_ends[u.n - 1], 0)),
         substring(hashes FROM coalesce(hash_ends[u.n - 1], 0) + 1
                          FOR u.hash_end - coalesce(hash_ends[u.n - 1], 0))
  FROM unnest(body_ends, hash_ends) WITH ORDINALITY AS u(body_end, hash_end, n);
  RETURN found_size;
END
$$;
REVOKE ALL ON FUNCTION audit.append_entries(bigint, bytea, integer[], bytea, integer[])
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.append_entries(bigint, bytea, integer[], bytea, integer[])
  TO alpr_proxy_audit;

-- 5. Rollups fold in facts, not entries: as 005, up to the last fact instead of the last entry
-- (facts, too, are committed as a prefix of the log, under the catch-up's lock), and at most
-- max_entries of them per call (NULL: all). The proxy's background catch-up rolls up in such
-- steps with pauses between them, so the audit database never spends a long burst of CPU on
-- rollups while searches wait for it; a report rolls up everything before it reads.
DROP FUNCTION audit.roll_up();
CREATE FUNCTION audit.roll_up(max_entries bigint DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  lo bigint;
  hi bigint;
  q text;
BEGIN
  SELECT next_idx INTO lo FROM audit.rollup_progress FOR UPDATE;
  SELECT coalesce(max(idx) + 1, 0) INTO hi FROM audit.entry_facts;
  IF max_entries IS NOT NULL THEN
    hi := least(hi, lo + greatest(max_entries, 1));
  END IF;
  IF hi > lo THEN
    FOREACH q IN ARRAY audit.rollup_statements(
        format('(SELECT * FROM audit.entry_facts WHERE idx >= %s AND idx < %s)', lo, hi)) LOOP
      EXECUTE q;
    END LOOP;
    UPDATE audit.rollup_progress SET next_idx = hi;
  END IF;
  RETURN greatest(lo, hi);
END
$$;
REVOKE ALL ON FUNCTION audit.roll_up(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.roll_up(bigint) TO alpr_proxy_audit;

-- No ANALYZE here: a table analyzed while empty gives every session a cached plan that finds
-- max(idx) by a sequential scan (the append function's, pg.size's), for as long as it lives.
-- Autovacuum analyzes the tables once they have grown.
