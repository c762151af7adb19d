-- 0030_members.sql: what the member routes (GET /api/v1/me, PUT /api/v1/me/profile,
-- GET /api/v1/me/profile-views) and prefix search need (docs/profiles.md).
--
-- 1. profile_views.id: a row id, so the owner's view log has a total order
--    (viewed_at DESC, id DESC) for its keyset cursor even when two views share
--    a microsecond. Added with a volatile default, this rewrites the log once
--    (instant on an empty or fresh database; on a large log, run it in a
--    maintenance window).
-- 2. profile_views_owner_log: the index that serves "who viewed profile P,
--    newest first, after (t, id)": one range scan per monthly partition,
--    merged (Merge Append), so page 1 and page 1,000 cost the same. Partial:
--    anonymous rows are counted, never listed, so they stay out of it.
--    Created on the partitioned parent, so every partition made later by
--    profile_views_ensure_partitions() gets it too.
-- 3. profiles.anonymous_views: the roll-up of anonymous views, kept by
--    profile_views_apply() like view_count, so anonymousViews is one row read
--    instead of a count over millions of log rows.
-- 4. profiles_name_c: name in byte (code point) order, the index of prefix
--    search: in the Korean ICU collation the names with a given prefix are
--    not one contiguous range (ICU compares whole strings level by level),
--    in "C" they are: [q, successor(q)).
-- 5. profile_me_put(): create-or-rename of a member's profile, serialised per
--    member by a lock on the users row.

-- ---- 1. row ids of the view log ---------------------------------------------

CREATE SEQUENCE profile_views_id_seq AS bigint;
ALTER TABLE profile_views
    ADD COLUMN id bigint NOT NULL DEFAULT nextval('profile_views_id_seq');
ALTER SEQUENCE profile_views_id_seq OWNED BY profile_views.id;

-- ---- 2. the owner's view log -------------------------------------------------

CREATE INDEX profile_views_owner_log ON profile_views (profile_id, viewed_at DESC, id DESC)
    WHERE viewer_id IS NOT NULL;

-- ---- 3. anonymous views as a roll-up -----------------------------------------

ALTER TABLE profiles ADD COLUMN anonymous_views bigint NOT NULL DEFAULT 0
    CHECK (anonymous_views >= 0);
UPDATE profiles p SET anonymous_views = v.n
  FROM (SELECT profile_id, count(*) AS n FROM profile_views
         WHERE viewer_id IS NULL GROUP BY 1) v
 WHERE v.profile_id = p.id;

CREATE OR REPLACE FUNCTION profile_views_apply(batch uuid, profile_ids bigint[], viewer_ids bigint[],
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
    UPDATE profiles p SET view_count = p.view_count + c.n,
                          anonymous_views = p.anonymous_views + c.anon
      FROM (SELECT v.p AS id, count(*) AS n, count(*) FILTER (WHERE v.u IS NULL) AS anon
              FROM unnest(profile_ids, viewer_ids) AS v (p, u) GROUP BY v.p) c
     WHERE p.id = c.id;
    RETURN true;
END $$;

-- ---- 4. prefix search ---------------------------------------------------------

CREATE INDEX profiles_name_c ON profiles ((name COLLATE "C"), id);

-- ---- 5. create or rename --------------------------------------------------------

-- The member's profile is their oldest one (seeded data may give a user
-- several; the API creates at most one). Returns the profile id and whether
-- it was created; no row when the user does not exist.
CREATE FUNCTION profile_me_put(member bigint, new_name text,
                               OUT profile_id bigint, OUT created boolean)
RETURNS SETOF record
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM users WHERE id = member FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE profiles SET name = new_name, updated_at = now()
     WHERE id = (SELECT min(id) FROM profiles WHERE user_id = member)
    RETURNING id INTO profile_id;
    created := profile_id IS NULL;
    IF created THEN
        INSERT INTO profiles (name, user_id) VALUES (new_name, member) RETURNING id INTO profile_id;
    END IF;
    RETURN NEXT;
END $$;
