-- 0002_view_partitions.sql: monthly partitions of profile_views.
--
-- The view log grows without bound, so it is range-partitioned by month (UTC
-- months): an old month is dropped or archived by detaching one partition,
-- with no DELETE and no vacuum debt. profile_views_ensure_partitions() creates
-- the partitions from months_back before to months_ahead after the current
-- month; the pool's maintenance job calls it daily so that next month's
-- partition always exists before the first view lands in it. A row outside
-- every partition goes to profile_views_default (nothing is ever lost), which
-- an operator should find empty.
CREATE OR REPLACE FUNCTION profile_views_ensure_partitions(months_back int, months_ahead int)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    base    timestamptz := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    lo      timestamptz;
    hi      timestamptz;
    part    text;
    created int := 0;
BEGIN
    FOR m IN -months_back .. months_ahead LOOP
        lo := base + make_interval(months => m);
        hi := lo + interval '1 month';
        part := 'profile_views_' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMM');
        IF to_regclass(part) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF profile_views FOR VALUES FROM (%L) TO (%L)',
                           part, lo, hi);
            EXECUTE format('CREATE INDEX %I ON %I (profile_id, viewed_at)', part || '_profile', part);
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END $$;

SELECT profile_views_ensure_partitions(24, 3);
