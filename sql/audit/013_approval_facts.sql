-- Two people for the risky searches (SPEC §12), as facts oversight can query: which request an
-- `approval` entry decides and how (its `request_index` and `verdict`), which request a
-- search's approval names (its `approval`), which searches ran as exigent, and which reviews
-- were a supervisor's (an exigent search counts as reviewed only by a supervisor of the
-- requester's agency or by oversight). Derived from each entry's bytes by
-- proxy/oversight/derived.py, like every other fact; the verifier never reads them.

ALTER TABLE audit.entry_facts
  ADD COLUMN IF NOT EXISTS request_index bigint,          -- approval: request_index; search: approval
  ADD COLUMN IF NOT EXISTS exigent boolean,               -- true: a search marked "exigent": true
  ADD COLUMN IF NOT EXISTS review_by_supervisor boolean,  -- reviews: by a `supervisor`
  ADD COLUMN IF NOT EXISTS verdict text;                  -- approval entries: approve | deny

-- Entries written before these facts existed (only if this migration runs after a proxy that
-- already wrote approvals): approval entries, searches naming an approval or marked exigent,
-- and reviews. The byte searches keep the scan cheap; only matching bodies are parsed. Only
-- the new columns are set; the append-only trigger is suspended for this one statement.
ALTER TABLE audit.entry_facts DISABLE TRIGGER entry_facts_no_update_delete;
UPDATE audit.entry_facts f
SET request_index = CASE
      -- An index is a JSON integer in bigint's range; anything else is no fact (as derived.py).
      WHEN x.event = 'approval' AND (r.j -> 'request_index')::text ~ '^[0-9]{1,18}$'
        THEN (r.j ->> 'request_index')::bigint
      WHEN x.event = 'search' AND (r.j -> 'approval')::text ~ '^[0-9]{1,18}$'
        THEN (r.j ->> 'approval')::bigint
    END,
    exigent = CASE WHEN x.event = 'search' AND r.j -> 'exigent' = 'true' THEN true END,
    review_by_supervisor = CASE
      WHEN x.event = 'review'
        THEN coalesce(jsonb_typeof(r.j -> 'roles') = 'array' AND (r.j -> 'roles') ? 'supervisor',
                      false)
    END,
    verdict = CASE
      WHEN x.event = 'approval' AND jsonb_typeof(r.j -> 'verdict') = 'string'
        THEN r.j ->> 'verdict'
    END
FROM audit.entry_facts x
JOIN audit.entries e ON e.idx = x.idx
CROSS JOIN LATERAL (SELECT audit.try_jsonb(e.body) AS j) r
WHERE f.idx = x.idx
  AND (x.event IN ('approval', 'review')
       OR (x.event = 'search' AND (position('"approval":'::bytea IN e.body) > 0
                                   OR position('"exigent":true'::bytea IN e.body) > 0)))
  AND jsonb_typeof(r.j) = 'object';
ALTER TABLE audit.entry_facts ENABLE ALWAYS TRIGGER entry_facts_no_update_delete;

-- Decisions and uses of one request, and the exigent searches (few: partial indexes).
CREATE INDEX IF NOT EXISTS entry_facts_request_idx ON audit.entry_facts (request_index, idx)
  INCLUDE (event, decision) WHERE request_index IS NOT NULL;
CREATE INDEX IF NOT EXISTS entry_facts_exigent_at_idx ON audit.entry_facts (at)
  INCLUDE (idx, agency, concerns) WHERE event = 'search' AND exigent;
CREATE INDEX IF NOT EXISTS entry_facts_approval_at_idx ON audit.entry_facts (at)
  INCLUDE (idx, concerns) WHERE event = 'approval';
