-- One batch, one statement, one round trip (proxy/audit/pg.py). The writer computes the tree
-- hashes for the size it expects the log to have (its own last append, when it is the only
-- writer); this function takes the sequence lock, and inserts only if the log still has that
-- size. It returns the size it found: equal to expected_size means appended (and committed
-- with the statement), anything else means nothing was written and the caller retries with the
-- right edge read under the lock. The lock key is proxy.audit.pg.APPEND_LOCK ("log1").
--
-- Array columns travel flat, with each entry's 1-based [start, end] slice: unnest cannot carry
-- arrays of different lengths, and slicing beats parsing JSON per row.
CREATE OR REPLACE FUNCTION audit.append_entries(
  expected_size bigint,
  bodies bytea[], events text[], request_ids text[], agencies text[], decisions text[],
  reasons text[], ats timestamptz[], subjects text[], purposes text[], obos text[],
  plates text[], reads_returned integer[],
  owners_flat text[], owner_reads_flat integer[], owners_start integer[], owners_end integer[],
  concerns_flat text[], concerns_start integer[], concerns_end integer[],
  justification_keys bytea[], reviewed_indexes bigint[], dispositions text[],
  hash_indexes bigint[], hashes bytea[]
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  found_size bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(1819240241);
  SELECT coalesce(max(idx) + 1, 0) INTO found_size FROM audit.entries;
  IF found_size <> expected_size THEN
    RETURN found_size;
  END IF;
  INSERT INTO audit.entries (idx, body, event, request_id, agency, decision, reason,
    at, subject, purpose, on_behalf_of, plate, reads_returned, owners, owner_reads, concerns,
    justification_key, reviewed_index, disposition)
  SELECT expected_size + u.n - 1, u.body, u.event, u.request_id, u.agency, u.decision, u.reason,
    u.at, u.subject, u.purpose, u.obo, u.plate, u.reads_returned,
    owners_flat[u.os:u.oe], owner_reads_flat[u.os:u.oe], concerns_flat[u.cs:u.ce],
    u.justification_key, u.reviewed_index, u.disposition
  FROM unnest(bodies, events, request_ids, agencies, decisions, reasons, ats, subjects,
              purposes, obos, plates, reads_returned, owners_start, owners_end,
              concerns_start, concerns_end, justification_keys, reviewed_indexes, dispositions)
       WITH ORDINALITY
       AS u(body, event, request_id, agency, decision, reason, at, subject, purpose, obo, plate,
            reads_returned, os, oe, cs, ce, justification_key, reviewed_index, disposition, n);
  INSERT INTO audit.tree_hashes (idx, hash) SELECT * FROM unnest(hash_indexes, hashes);
  RETURN found_size;
END
$$;

REVOKE ALL ON FUNCTION audit.append_entries FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.append_entries TO alpr_proxy_audit;
