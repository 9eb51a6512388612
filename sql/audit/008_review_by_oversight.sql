-- Whose review is it? Oversight's disposition of an entry stands for oversight, an agency
-- auditor's for that agency (proxy/oversight/flags.py), so the flags report needs to tell them
-- apart: a review by a principal holding the `oversight` role (its entry's `roles`) is
-- oversight's. A fact like the others, derived from the entry's bytes (proxy/audit/derived.py).

ALTER TABLE audit.entry_facts ADD COLUMN IF NOT EXISTS review_by_oversight boolean;

-- Existing reviews (few: people write them). Only the new column is set; the append-only
-- trigger is suspended for this one statement inside the migration's transaction.
ALTER TABLE audit.entry_facts DISABLE TRIGGER entry_facts_no_update_delete;
UPDATE audit.entry_facts f
SET review_by_oversight = coalesce(jsonb_typeof(r.j -> 'roles') = 'array'
                                   AND (r.j -> 'roles') ? 'oversight', false)
FROM (SELECT e.idx, audit.try_jsonb(e.body) AS j
      FROM audit.entries e JOIN audit.entry_facts x ON x.idx = e.idx
      WHERE x.event = 'review') r
WHERE f.idx = r.idx;
ALTER TABLE audit.entry_facts ENABLE ALWAYS TRIGGER entry_facts_no_update_delete;
