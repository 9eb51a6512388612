-- Oversight (SPEC §8): query columns derived from each entry at write time, their indexes, and
-- daily rollups that keep the reports fast over millions of entries.
--
-- Everything here is a convenience view of the canonical bytes in `body`. The verifier never
-- reads these columns or tables; evidence is always the entry itself (GET /v1/log/entries/N).
-- proxy/audit/derived.py computes the columns; proxy/audit/pg.py writes them with the entry.

ALTER TABLE audit.entries
  ADD COLUMN IF NOT EXISTS at                timestamptz,  -- the entry's `time`
  ADD COLUMN IF NOT EXISTS subject           text,
  ADD COLUMN IF NOT EXISTS purpose           text,
  ADD COLUMN IF NOT EXISTS on_behalf_of      text,         -- the on-behalf-of ORI
  ADD COLUMN IF NOT EXISTS plate             text,         -- normalised plate or pattern asked
  ADD COLUMN IF NOT EXISTS reads_returned    integer,
  ADD COLUMN IF NOT EXISTS owners            text[],       -- agencies whose reads it disclosed
  ADD COLUMN IF NOT EXISTS owner_reads       integer[],    -- reads per owner, same order
  ADD COLUMN IF NOT EXISTS concerns          text[],       -- requester, on-behalf-of, owners
  ADD COLUMN IF NOT EXISTS justification_key bytea,        -- 16 bytes of SHA-256, normalised
  ADD COLUMN IF NOT EXISTS reviewed_index    bigint,       -- review entries
  ADD COLUMN IF NOT EXISTS disposition       text;

CREATE OR REPLACE FUNCTION audit.json_text_array(j jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT coalesce(array_agg(v ORDER BY n), '{}') FROM jsonb_array_elements_text(j) WITH ORDINALITY t(v, n)
$$;

-- Backfill entries written before this migration, from their bodies. Only the new, derived
-- columns are set (body, idx and the tree are untouched, which `audit verify` confirms); the
-- append-only trigger is suspended for this one statement inside the migration's transaction.
-- SQL approximates Python's normalisation here: lower() instead of casefold, format characters
-- kept, so a rare old justification may group apart from its new twins in the boilerplate report.
CREATE OR REPLACE FUNCTION audit.try_jsonb(b bytea) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
  RETURN convert_from(b, 'UTF8')::jsonb;
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$$;

ALTER TABLE audit.entries DISABLE TRIGGER entries_no_update_delete;
WITH src AS (
  SELECT idx, j, j -> 'query' AS q, j -> 'outcome' -> 'disclosed_by_owner' AS d,
         CASE WHEN jsonb_typeof(j -> 'on_behalf_of') = 'object'
                   AND jsonb_typeof(j -> 'on_behalf_of' -> 'ori') = 'string'
              THEN j -> 'on_behalf_of' ->> 'ori' END AS obo
  FROM (SELECT idx, audit.try_jsonb(body) AS j FROM audit.entries WHERE at IS NULL) raw
  WHERE jsonb_typeof(j) = 'object'
), owned AS (
  SELECT s.idx, array_agg(o.key ORDER BY o.key) AS owners,
         array_agg(o.value::integer ORDER BY o.key) AS reads
  FROM src s, jsonb_each_text(CASE WHEN jsonb_typeof(s.d) = 'object' THEN s.d END) o
  WHERE o.value ~ '^[0-9]{1,9}$' AND o.value::integer > 0 AND o.key <> ''
  GROUP BY s.idx
), derived AS (
  SELECT s.idx,
    CASE WHEN s.j ->> 'time' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$'
         THEN (s.j ->> 'time')::timestamptz END AS at,
    CASE WHEN jsonb_typeof(s.j -> 'subject') = 'string' THEN s.j ->> 'subject' END AS subject,
    CASE WHEN jsonb_typeof(s.j -> 'purpose') = 'string' THEN s.j ->> 'purpose' END AS purpose,
    s.obo,
    CASE WHEN s.j ->> 'event' = 'search' AND jsonb_typeof(s.q) = 'object' THEN
      (SELECT p FROM (SELECT upper(regexp_replace(regexp_replace(normalize(
                CASE s.q ->> 'type' WHEN 'plate' THEN s.q ->> 'plate'
                                    WHEN 'partial_plate' THEN s.q ->> 'pattern' END,
                NFKC), '[ .-]', '', 'g'), '\*{2,}', '*', 'g')) AS p) n
       WHERE p ~ CASE s.q ->> 'type' WHEN 'plate' THEN '^[A-Z0-9]{1,10}$' ELSE '^[A-Z0-9*?]+$' END)
    END AS plate,
    CASE WHEN jsonb_typeof(s.j -> 'outcome' -> 'returned') = 'number'
         THEN (s.j -> 'outcome' ->> 'returned')::integer END AS reads_returned,
    coalesce(o.owners, '{}') AS owners, coalesce(o.reads, '{}') AS owner_reads,
    ARRAY(SELECT DISTINCT a FROM unnest(ARRAY[
            CASE WHEN jsonb_typeof(s.j -> 'agency') = 'string' THEN s.j ->> 'agency' END, s.obo]
            || coalesce(o.owners, '{}')) a
          WHERE a IS NOT NULL AND a <> '' ORDER BY a) AS concerns,
    CASE WHEN jsonb_typeof(s.j -> 'justification') = 'string' THEN
      (SELECT substring(sha256(convert_to(t, 'UTF8')) FROM 1 FOR 16)
       FROM (SELECT btrim(regexp_replace(regexp_replace(lower(normalize(s.j ->> 'justification',
                 NFKC)), '[0-9]+', '#', 'g'), '\s+', ' ', 'g')) AS t) n WHERE t <> '')
    END AS justification_key
  FROM src s LEFT JOIN owned o USING (idx)
)
UPDATE audit.entries e
SET at = d.at, subject = d.subject, purpose = d.purpose, on_behalf_of = d.obo, plate = d.plate,
    reads_returned = d.reads_returned, owners = d.owners, owner_reads = d.owner_reads,
    concerns = d.concerns, justification_key = d.justification_key
FROM derived d
WHERE e.idx = d.idx;
ALTER TABLE audit.entries ENABLE ALWAYS TRIGGER entries_no_update_delete;

-- Indexes for GET /v1/audit/entries filters (all ordered by idx for the cursor) and the reports.
CREATE INDEX IF NOT EXISTS entries_at_idx ON audit.entries (at);
CREATE INDEX IF NOT EXISTS entries_agency_at_idx ON audit.entries (agency, at);
CREATE INDEX IF NOT EXISTS entries_subject_at_idx ON audit.entries (subject, at);
CREATE INDEX IF NOT EXISTS entries_plate_at_idx ON audit.entries (plate, at)
  WHERE plate IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_obo_at_idx ON audit.entries (on_behalf_of, at)
  WHERE on_behalf_of IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_reason_at_idx ON audit.entries (reason, at)
  INCLUDE (idx, event, concerns) WHERE reason IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_owners_idx ON audit.entries USING gin (owners);
CREATE INDEX IF NOT EXISTS entries_concerns_idx ON audit.entries USING gin (concerns);
CREATE INDEX IF NOT EXISTS entries_reviewed_idx ON audit.entries (reviewed_index, idx)
  WHERE reviewed_index IS NOT NULL;
-- Flag lists read these index-only (time range, scope) before touching any body.
CREATE INDEX IF NOT EXISTS entries_refused_at_idx ON audit.entries (at) INCLUDE (idx, concerns)
  WHERE event = 'search' AND decision = 'refused';
CREATE INDEX IF NOT EXISTS entries_obo_search_at_idx ON audit.entries (at) INCLUDE (idx, concerns)
  WHERE event = 'search' AND on_behalf_of IS NOT NULL;
-- Boilerplate: only justifications reused often are counted, by key within the time range.
CREATE INDEX IF NOT EXISTS entries_justification_idx
  ON audit.entries (justification_key, at) INCLUDE (idx, agency, subject, concerns)
  WHERE event = 'search' AND justification_key IS NOT NULL;

-- Daily (UTC) rollups of search entries. `scope` is '*' (everything, for oversight) or an ORI
-- the entry concerns (for that agency's auditors), so a scoped report reads only its own rows.
-- Missing dimensions are stored as ''. Reports add the partial days at either end of a range
-- from audit.entries itself, so any range is exact.
CREATE TABLE IF NOT EXISTS audit.daily_usage (
  day date NOT NULL, scope text NOT NULL, agency text NOT NULL, purpose text NOT NULL,
  decision text NOT NULL, reason text NOT NULL, searches bigint NOT NULL, reads bigint NOT NULL,
  PRIMARY KEY (scope, day, agency, purpose, decision, reason)
);
CREATE TABLE IF NOT EXISTS audit.daily_disclosures (
  day date NOT NULL, scope text NOT NULL, owner text NOT NULL, recipient text NOT NULL,
  reads bigint NOT NULL,
  PRIMARY KEY (scope, day, owner, recipient)
);
CREATE TABLE IF NOT EXISTS audit.daily_users (
  day date NOT NULL, scope text NOT NULL, agency text NOT NULL, subject text NOT NULL,
  searches bigint NOT NULL,
  PRIMARY KEY (scope, day, agency, subject)
);
-- The same per UTC month: a quarter is three months of rows, not ninety days of them.
CREATE TABLE IF NOT EXISTS audit.monthly_users (
  month date NOT NULL, scope text NOT NULL, agency text NOT NULL, subject text NOT NULL,
  searches bigint NOT NULL,
  PRIMARY KEY (scope, month, agency, subject)
);
-- All-time count per justification key: the boilerplate report's candidates (a text used
-- K times in a range was used at least K times in all).
CREATE TABLE IF NOT EXISTS audit.justification_totals (
  key bytea PRIMARY KEY, searches bigint NOT NULL
);
-- Only reused texts are indexed: most justifications are written once.
CREATE INDEX IF NOT EXISTS justification_totals_reused_idx
  ON audit.justification_totals (searches) WHERE searches >= 2;

-- Which indexes hold each hour's entries. Entry times follow indexes only roughly (a request
-- takes its time before its entry commits), so this turns a time range into an index range
-- that is sure to contain it, and a listing in index order starts at the right place.
CREATE TABLE IF NOT EXISTS audit.hour_index_range (
  hour timestamptz PRIMARY KEY, min_idx bigint NOT NULL, max_idx bigint NOT NULL
);

-- The rollup statements over a set of entries (`src`: the trigger's transition table, or
-- audit.entries when rebuilding). One definition serves both, so they cannot drift apart.
CREATE OR REPLACE FUNCTION audit.rollup_statements(src text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $fn$
SELECT ARRAY[
format($q$
INSERT INTO audit.daily_usage AS t (day, scope, agency, purpose, decision, reason, searches, reads)
SELECT (e.at AT TIME ZONE 'UTC')::date, s.scope, coalesce(e.agency, ''), coalesce(e.purpose, ''),
       coalesce(e.decision, ''), coalesce(e.reason, ''), count(*), coalesce(sum(e.reads_returned), 0)
FROM %1$s e CROSS JOIN LATERAL unnest('{*}'::text[] || e.concerns) s(scope)
WHERE e.event = 'search' AND e.at IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6
ON CONFLICT (scope, day, agency, purpose, decision, reason)
DO UPDATE SET searches = t.searches + excluded.searches, reads = t.reads + excluded.reads $q$, src),
format($q$
INSERT INTO audit.daily_disclosures AS t (day, scope, owner, recipient, reads)
SELECT (e.at AT TIME ZONE 'UTC')::date, s.scope, o.owner, r.recipient, sum(o.reads)
FROM %1$s e
CROSS JOIN LATERAL unnest(e.owners, e.owner_reads) o(owner, reads)
CROSS JOIN LATERAL unnest(ARRAY[e.agency, nullif(e.on_behalf_of, e.agency)]) r(recipient)
CROSS JOIN LATERAL unnest('{*}'::text[] || e.concerns) s(scope)
WHERE e.event = 'search' AND e.at IS NOT NULL AND r.recipient IS NOT NULL
GROUP BY 1, 2, 3, 4
ON CONFLICT (scope, day, owner, recipient) DO UPDATE SET reads = t.reads + excluded.reads $q$, src),
format($q$
INSERT INTO audit.daily_users AS t (day, scope, agency, subject, searches)
SELECT (e.at AT TIME ZONE 'UTC')::date, s.scope, coalesce(e.agency, ''), coalesce(e.subject, ''),
       count(*)
FROM %1$s e CROSS JOIN LATERAL unnest('{*}'::text[] || e.concerns) s(scope)
WHERE e.event = 'search' AND e.at IS NOT NULL
GROUP BY 1, 2, 3, 4
ON CONFLICT (scope, day, agency, subject) DO UPDATE SET searches = t.searches + excluded.searches $q$,
src),
format($q$
INSERT INTO audit.monthly_users AS t (month, scope, agency, subject, searches)
SELECT date_trunc('month', e.at AT TIME ZONE 'UTC')::date, s.scope, coalesce(e.agency, ''),
       coalesce(e.subject, ''), count(*)
FROM %1$s e CROSS JOIN LATERAL unnest('{*}'::text[] || e.concerns) s(scope)
WHERE e.event = 'search' AND e.at IS NOT NULL
GROUP BY 1, 2, 3, 4
ON CONFLICT (scope, month, agency, subject) DO UPDATE SET searches = t.searches + excluded.searches $q$,
src),
format($q$
INSERT INTO audit.justification_totals AS t (key, searches)
SELECT e.justification_key, count(*) FROM %1$s e
WHERE e.event = 'search' AND e.justification_key IS NOT NULL
GROUP BY 1
ON CONFLICT (key) DO UPDATE SET searches = t.searches + excluded.searches $q$, src),
format($q$
INSERT INTO audit.hour_index_range AS t (hour, min_idx, max_idx)
SELECT date_bin('1 hour', e.at, timestamptz '2000-01-01 00:00:00+00'), min(e.idx), max(e.idx)
FROM %1$s e WHERE e.at IS NOT NULL
GROUP BY 1
ON CONFLICT (hour) DO UPDATE SET min_idx = least(t.min_idx, excluded.min_idx),
                                 max_idx = greatest(t.max_idx, excluded.max_idx) $q$, src)
]
$fn$;

-- Rollups are written only by this trigger, with its owner's rights: the proxy's role can read
-- them but never write them directly.
CREATE OR REPLACE FUNCTION audit.rollup_new_entries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE q text;
BEGIN
  FOREACH q IN ARRAY audit.rollup_statements('new_entries') LOOP
    EXECUTE q;
  END LOOP;
  RETURN NULL;
END
$$;

-- Entries already in the log (the backfill above) are rolled up once, here.
DO $$
DECLARE q text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM audit.daily_usage) AND NOT EXISTS (SELECT 1 FROM audit.justification_totals) THEN
    FOREACH q IN ARRAY audit.rollup_statements('audit.entries') LOOP
      EXECUTE q;
    END LOOP;
  END IF;
END
$$;

DROP TRIGGER IF EXISTS entries_rollup ON audit.entries;
CREATE TRIGGER entries_rollup AFTER INSERT ON audit.entries
  REFERENCING NEW TABLE AS new_entries
  FOR EACH STATEMENT EXECUTE FUNCTION audit.rollup_new_entries();

REVOKE ALL ON audit.daily_usage, audit.daily_disclosures, audit.daily_users,
  audit.monthly_users, audit.justification_totals, audit.hour_index_range FROM alpr_proxy_audit;
GRANT SELECT ON audit.daily_usage, audit.daily_disclosures, audit.daily_users,
  audit.monthly_users, audit.justification_totals, audit.hour_index_range TO alpr_proxy_audit;
