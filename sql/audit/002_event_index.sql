-- Finding the latest entry of an event (e.g. the last policy_loaded) without a scan.
CREATE INDEX IF NOT EXISTS entries_event_idx ON audit.entries (event, idx);
