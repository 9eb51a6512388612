-- The rollups' "everything" scope was '*', which is also a string a token's `ori` (or a search's
-- on_behalf_of.ori) could carry: an auditor of agency '*' read oversight's figures, and an entry
-- naming '*' was counted twice in them. Its rows now carry '' instead, which no entry can
-- concern (audit.entry_facts.concerns never holds an empty string: proxy/audit/derived.py
-- drops empty names, as 003's backfill did), and proxy/oversight/period.py keeps an auditor
-- scope of '' away from it too.
--
-- Old '*' rows mix the two meanings (the upsert added them together), so they cannot be
-- relabelled: the scoped rollups are rebuilt from the facts they already covered. Facts, not
-- rollups, are the source (audit.entry_facts, 006); progress stays where it was, and
-- justification_totals and hour_index_range, which have no scope, are left as they are.

-- Queue behind (and then block) any audit.roll_up() until this transaction commits.
SELECT next_idx FROM audit.rollup_progress FOR UPDATE;

CREATE OR REPLACE FUNCTION audit.rollup_statements(src text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $fn$
SELECT ARRAY[
format($q$
INSERT INTO audit.daily_usage AS t (day, scope, agency, purpose, decision, reason, searches, reads)
SELECT (e.at AT TIME ZONE 'UTC')::date, s.scope, coalesce(e.agency, ''), coalesce(e.purpose, ''),
       coalesce(e.decision, ''), coalesce(e.reason, ''), count(*), coalesce(sum(e.reads_returned), 0)
FROM %1$s e CROSS JOIN LATERAL unnest(ARRAY['']::text[] || e.concerns) s(scope)
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
CROSS JOIN LATERAL unnest(ARRAY['']::text[] || e.concerns) s(scope)
WHERE e.event = 'search' AND e.at IS NOT NULL AND r.recipient IS NOT NULL
GROUP BY 1, 2, 3, 4
ON CONFLICT (scope, day, owner, recipient) DO UPDATE SET reads = t.reads + excluded.reads $q$, src),
format($q$
INSERT INTO audit.daily_users AS t (day, scope, agency, subject, searches)
SELECT (e.at AT TIME ZONE 'UTC')::date, s.scope, coalesce(e.agency, ''), coalesce(e.subject, ''),
       count(*)
FROM %1$s e CROSS JOIN LATERAL unnest(ARRAY['']::text[] || e.concerns) s(scope)
WHERE e.event = 'search' AND e.at IS NOT NULL
GROUP BY 1, 2, 3, 4
ON CONFLICT (scope, day, agency, subject) DO UPDATE SET searches = t.searches + excluded.searches $q$,
src),
format($q$
INSERT INTO audit.monthly_users AS t (month, scope, agency, subject, searches)
SELECT date_trunc('month', e.at AT TIME ZONE 'UTC')::date, s.scope, coalesce(e.agency, ''),
       coalesce(e.subject, ''), count(*)
FROM %1$s e CROSS JOIN LATERAL unnest(ARRAY['']::text[] || e.concerns) s(scope)
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

-- Rebuild the four scoped rollups (statements 1-4 above) over what they covered before.
TRUNCATE audit.daily_usage, audit.daily_disclosures, audit.daily_users, audit.monthly_users;
DO $$
DECLARE
  q text;
  hi bigint;
BEGIN
  SELECT next_idx INTO hi FROM audit.rollup_progress;
  IF hi > 0 THEN
    FOREACH q IN ARRAY (audit.rollup_statements(
        format('(SELECT * FROM audit.entry_facts WHERE idx < %s)', hi)))[1:4] LOOP
      EXECUTE q;
    END LOOP;
  END IF;
END
$$;
