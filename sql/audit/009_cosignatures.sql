-- Witness cosignatures of checkpoints (SPEC §10, proxy/audit/cosignatures_pg.py). A row is
-- stored only after its line verified against the configured witness key, and before it counts
-- toward the quorum; serving re-verifies every row, because whoever can write here can also
-- forge a row. Append-only like the rest of the log: resubmitting an idle log's checkpoint adds
-- fresher rows, it never replaces one, so what a witness once cosigned stays on record.
CREATE TABLE IF NOT EXISTS audit.cosignatures (
  size        bigint NOT NULL REFERENCES audit.checkpoints (size),
  witness     text NOT NULL,          -- the witness's vkey: name+keyid+base64(0x04 || key)
  cosigned_at bigint NOT NULL CHECK (cosigned_at >= 0),  -- the cosignature's own timestamp
  line        text NOT NULL,          -- the signature line, newline-ended, as the witness sent it
  received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- Two processes storing the same cosignature (same witness, same second: Ed25519 is
  -- deterministic, so the same bytes) make one row.
  PRIMARY KEY (size, witness, line)
);

DROP TRIGGER IF EXISTS cosignatures_no_update_delete ON audit.cosignatures;
CREATE TRIGGER cosignatures_no_update_delete BEFORE UPDATE OR DELETE ON audit.cosignatures
  FOR EACH ROW EXECUTE FUNCTION audit.reject_change();
ALTER TABLE audit.cosignatures ENABLE ALWAYS TRIGGER cosignatures_no_update_delete;
DROP TRIGGER IF EXISTS cosignatures_no_truncate ON audit.cosignatures;
CREATE TRIGGER cosignatures_no_truncate BEFORE TRUNCATE ON audit.cosignatures
  FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_change();
ALTER TABLE audit.cosignatures ENABLE ALWAYS TRIGGER cosignatures_no_truncate;

REVOKE ALL ON audit.cosignatures FROM alpr_proxy_audit;
GRANT SELECT, INSERT ON audit.cosignatures TO alpr_proxy_audit;
