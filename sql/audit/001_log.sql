-- The audit log (SPEC §8). Append-only: the proxy's role may only INSERT and SELECT, and
-- triggers that fire ALWAYS (also under session_replication_role = replica) reject every
-- UPDATE, DELETE and TRUNCATE. A superuser can still disable them; that is what the Merkle
-- tree and the checkpoints oversight keeps elsewhere are for.
CREATE SCHEMA IF NOT EXISTS audit;

CREATE TABLE IF NOT EXISTS audit.entries (
  idx         bigint PRIMARY KEY CHECK (idx >= 0),
  body        bytea NOT NULL,               -- the canonical JSON bytes, exactly as hashed
  recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- Derived from body at write time, for queries and reports; never trusted by the verifier.
  event       text NOT NULL,
  request_id  text,
  agency      text,
  decision    text,
  reason      text
);

-- RFC 6962 tree, stored the way Go's sumdb tlog stores it: every complete subtree's hash at
-- its stored-hash index, so any proof is O(log n) point reads.
CREATE TABLE IF NOT EXISTS audit.tree_hashes (
  idx  bigint PRIMARY KEY CHECK (idx >= 0),
  hash bytea NOT NULL CHECK (length(hash) = 32)
);

CREATE TABLE IF NOT EXISTS audit.checkpoints (
  size       bigint PRIMARY KEY CHECK (size >= 0),
  root       bytea NOT NULL CHECK (length(root) = 32),
  note       text NOT NULL,                -- the signed note, byte for byte as served
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE OR REPLACE FUNCTION audit.reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit log is append-only: % on %.% rejected', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['entries', 'tree_hashes', 'checkpoints'] LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON audit.%I', t || '_no_update_delete', t);
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON audit.%I '
                   'FOR EACH ROW EXECUTE FUNCTION audit.reject_change()', t || '_no_update_delete', t);
    EXECUTE format('ALTER TABLE audit.%I ENABLE ALWAYS TRIGGER %I', t, t || '_no_update_delete');
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON audit.%I', t || '_no_truncate', t);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON audit.%I '
                   'FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_change()', t || '_no_truncate', t);
    EXECUTE format('ALTER TABLE audit.%I ENABLE ALWAYS TRIGGER %I', t, t || '_no_truncate');
  END LOOP;
END
$$;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'alpr_proxy_audit') THEN
    CREATE ROLE alpr_proxy_audit LOGIN;
  END IF;
END
$$;
REVOKE ALL ON ALL TABLES IN SCHEMA audit FROM alpr_proxy_audit;
GRANT USAGE ON SCHEMA audit TO alpr_proxy_audit;
GRANT SELECT, INSERT ON audit.entries, audit.tree_hashes, audit.checkpoints TO alpr_proxy_audit;
