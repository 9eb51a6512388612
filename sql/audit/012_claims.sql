-- Single-use claims of the two-person rule (SPEC §12, proxy/audit/claims.py). A claim is written
-- by the audit writer IN THE SAME TRANSACTION as the entry that makes it, before that entry's
-- index is handed back, so "who used approval N first" is decided by this primary key, across
-- every proxy process, and only for entries that committed:
--   use:N          the search entry (answered 200) that used the approval of request N
--   decide:N       the approval entry that decided request N (approve or deny)
--   exigent:P:K    the K-th exigent search of person P (P = iss, sub, ori joined by U+001F);
--                  K is consecutive per person, so two concurrent searches cannot share a slot
-- A batch inserts each claim ON CONFLICT DO NOTHING; a record whose claim lost is replaced by
-- its fallback entry (a refusal) before the batch is hashed and appended.
-- Append-only, like the log. A DBA who deletes a row could reuse an approval; two search
-- entries naming one approval are then in the log itself, and `alpr-proxy audit verify` with
-- the database reports them (proxy/audit/claims.py: duplicate_uses).
CREATE TABLE IF NOT EXISTS audit.claims (
  claim   text PRIMARY KEY,
  idx     bigint NOT NULL,                 -- the entry that made the claim
  person  text,                            -- exigent claims: whose
  at      timestamptz                      -- exigent claims: the entry's time
);
CREATE INDEX IF NOT EXISTS claims_person_at_idx ON audit.claims (person, at)
  WHERE person IS NOT NULL;

DROP TRIGGER IF EXISTS claims_no_update_delete ON audit.claims;
CREATE TRIGGER claims_no_update_delete BEFORE UPDATE OR DELETE ON audit.claims
  FOR EACH ROW EXECUTE FUNCTION audit.reject_change();
ALTER TABLE audit.claims ENABLE ALWAYS TRIGGER claims_no_update_delete;
DROP TRIGGER IF EXISTS claims_no_truncate ON audit.claims;
CREATE TRIGGER claims_no_truncate BEFORE TRUNCATE ON audit.claims
  FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_change();
ALTER TABLE audit.claims ENABLE ALWAYS TRIGGER claims_no_truncate;

REVOKE ALL ON audit.claims FROM alpr_proxy_audit;
GRANT SELECT, INSERT ON audit.claims TO alpr_proxy_audit;
