-- 0010_profile_views_batches.sql: what the profile module needs beyond 0001/0002.
--
-- 1. profile_stats: the number of profiles, kept exact by statement-level
--    triggers, so a list's totalElements is one indexed row read instead of a
--    count(*) over the whole table on every cache miss.
-- 2. profile_view_batches + profile_views_apply(): a worker's buffered views
--    are written in one transaction that appends the log rows, adds to
--    profiles.view_count and records the batch id. A retry of a batch whose
--    COMMIT acknowledgement was lost finds its id and changes nothing, so every
--    batch is applied exactly once.
-- 3. profile_views_drop_partitions(): optional retention of the view log by
--    whole months (view_count is the roll-up and is never reduced).

-- ---- 1. the row count --------------------------------------------------------

CREATE TABLE profile_stats (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    total      bigint  NOT NULL CHECK (total >= 0)
);
INSERT INTO profile_stats (total) SELECT count(*) FROM profiles;

-- Statement-level with transition tables: a COPY of a million rows updates
-- the counter once, not a million times.
CREATE FUNCTION profile_stats_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE profile_stats SET total = total + (SELECT count(*) FROM new_rows);
    RETURN NULL;
END $$;

CREATE FUNCTION profile_stats_after_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE profile_stats SET total = total - (SELECT count(*) FROM old_rows);
    RETURN NULL;
END $$;

CREATE FUNCTION profile_stats_after_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE profile_stats SET total = 0;
    RETURN NULL;
END $$;

CREATE TRIGGER profile_stats_insert AFTER INSERT ON profiles
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION profile_stats_after_insert();
CREATE TRIGGER profile_stats_delete AFTER DELETE ON profiles
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION profile_stats_after_delete();
CREATE TRIGGER profile_stats_truncate AFTER TRUNCATE ON profiles
    FOR EACH STATEMENT EXECUTE FUNCTION profile_stats_after_truncate();

-- ---- 2. exactly-once view batches ------------------------------------------

-- One row per applied batch. Only needed while a batch could still be retried
-- (seconds to minutes); the maintenance job deletes rows older than a day.
CREATE TABLE profile_view_batches (
    batch_id    uuid        PRIMARY KEY,
    view_rows   int         NOT NULL CHECK (view_rows > 0),
    applied_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX profile_view_batches_applied_at ON profile_view_batches (applied_at);

-- Applies one batch: profile_ids[i] was viewed by viewer_ids[i] (NULL:
-- anonymous) at viewed_us[i] (microseconds since the epoch). Returns true when
-- applied now, false when this batch id was applied before (a retry).
-- Rows of profiles are locked in id order first, so two workers flushing
-- overlapping batches at once wait for each other instead of deadlocking.
CREATE FUNCTION profile_views_apply(batch uuid, profile_ids bigint[], viewer_ids bigint[],
                                    viewed_us bigint[])
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(array_length(profile_ids, 1), 0);
BEGIN
    IF n = 0 OR coalesce(array_length(viewer_ids, 1), 0) <> n
       OR coalesce(array_length(viewed_us, 1), 0) <> n THEN
        RAISE EXCEPTION 'profile_views_apply: arrays must be non-empty and of equal length'
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO profile_view_batches (batch_id, view_rows) VALUES (batch, n)
        ON CONFLICT (batch_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM 1 FROM profiles WHERE id = ANY (profile_ids) ORDER BY id FOR UPDATE;
    INSERT INTO profile_views (profile_id, viewer_id, viewed_at)
        SELECT v.p, v.u, timestamptz 'epoch' + v.t * interval '1 microsecond'
          FROM unnest(profile_ids, viewer_ids, viewed_us) AS v (p, u, t);
    UPDATE profiles p SET view_count = p.view_count + c.n
      FROM (SELECT x AS id, count(*) AS n FROM unnest(profile_ids) AS x GROUP BY x) c
     WHERE p.id = c.id;
    RETURN true;
END $$;

-- ---- 3. retention by whole months (off unless configured) -------------------

-- Drops the monthly partitions profile_views_YYYYMM whose month ended more than
-- keep_months months before the current (UTC) month. keep_months <= 0 keeps
-- everything. Returns the number of partitions dropped. Dropping a partition
-- is instant and leaves no dead rows; profiles.view_count keeps counting the
-- dropped views.
CREATE FUNCTION profile_views_drop_partitions(keep_months int)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    cutoff  timestamptz;
    part    record;
    dropped int := 0;
BEGIN
    IF keep_months <= 0 THEN
        RETURN 0;
    END IF;
    cutoff := (date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
              - make_interval(months => keep_months);
    FOR part IN
        SELECT c.relname
          FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'profile_views'::regclass
           AND c.relname ~ '^profile_views_[0-9]{6}$'
    LOOP
        IF (to_date(substr(part.relname, 15), 'YYYYMM')::timestamp AT TIME ZONE 'UTC')
           + interval '1 month' <= cutoff THEN
            EXECUTE format('DROP TABLE %I', part.relname);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END $$;
