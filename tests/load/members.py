#!/usr/bin/env python3
"""members.py: the body of tests/load/members.sh (see there)."""
import argparse
import os
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import apitest  # noqa: E402

BIG_PROFILES = 1_000_000
BIG_VIEWS, SHORT_VIEWS = 10_000_000, 200_000
VIEW_SIZE, DEEP_PAGE = 20, 1000
SEARCH_SIZE = 10
SORTS = ["createdAt,desc", "createdAt,asc", "name,asc", "name,desc", "viewCount,desc",
         "viewCount,asc"]


def get_json(path, headers=None):
    r = apitest.api("GET", path, headers=headers, timeout=60)
    if r.status != 200:
        raise RuntimeError(f"GET {path}: {r.status} {r.text[:200]}")
    return r.json["data"]


def wait_replica():
    lsn = apitest.sql1("SELECT pg_current_wal_lsn()")
    apitest.wait_until(
        lambda: apitest.sql1(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn",
                             apitest.REPLICA_URL) == "t",
        timeout=900, interval=1, what="the replica to replay the load")


def seed(profiles):
    args = ["--reset"] + (["--profiles", str(profiles), "--views", "0"] if profiles else [])
    print(f"seed {' '.join(args)} ...", flush=True)
    subprocess.run(["/usr/bin/python3", os.path.join(apitest.ROOT, "db", "seed.py"),
                    "--database-url", apitest.DATABASE_URL, *args], check=True)
    apitest.sql("VACUUM ANALYZE profiles")
    wait_replica()


def restart_pool(cache):
    if cache:
        os.environ.pop("PROFILE_CACHE", None)
    else:
        os.environ["PROFILE_CACHE"] = "false"
    apitest.stack('stop_pid "$RUN/pool.pid" TERM 20; start_pool; wait_ready 60')


def load_views(n):
    """A member with a profile viewed n times: 70% by members (the demo
    users), 30% anonymous, newest now, oldest 600 days ago (20 monthly
    partitions). Returns (user id, profile id)."""
    users = int(apitest.sql1("SELECT count(*) FROM users"))
    row = apitest.sql("SELECT user_id, id FROM profiles WHERE name = '조회벤치' "
                      f"AND view_count = {n} ORDER BY id LIMIT 1")
    if row:  # left by a --keep-data run
        print(f"reusing profile {row[0][1]} and its {n:,} views", flush=True)
        return int(row[0][0]), int(row[0][1])
    owner = int(apitest.sql1("INSERT INTO users (name) VALUES ('view-bench') RETURNING id"))
    pid = int(apitest.sql1(f"INSERT INTO profiles (name, user_id) VALUES ('조회벤치', {owner}) "
                           "RETURNING id"))
    t0 = time.time()
    print(f"loading {n:,} views of profile {pid} ...", flush=True)
    step = 1_000_000
    for lo in range(1, n + 1, step):
        hi = min(n, lo + step - 1)
        apitest.sql(f"""
            INSERT INTO profile_views (profile_id, viewer_id, viewed_at)
            SELECT {pid}, CASE WHEN g % 10 < 7 THEN 1 + (g::bigint * 7919) % {users} END,
                   now() - (g::double precision / {n}) * interval '600 days'
              FROM generate_series({lo}, {hi}) g""")
    apitest.sql(f"UPDATE profiles SET view_count = {n}, anonymous_views = "
                f"(SELECT count(*) FROM profile_views WHERE profile_id = {pid} "
                f"AND viewer_id IS NULL) WHERE id = {pid}")
    apitest.sql("ANALYZE profile_views")
    wait_replica()
    print(f"  loaded in {time.time() - t0:.0f} s", flush=True)
    return owner, pid


def explain(sql_text, types, args):
    """EXPLAIN ANALYZE of sql_text as a prepared statement with its generic
    plan (parameters unknown to the planner): the plan a pool connection may
    settle on after its first executions, the worst case for prefix ranges."""
    rows = apitest.sql("SET plan_cache_mode = force_generic_plan; "
                       f"PREPARE p ({', '.join(types)}) AS {sql_text}; "
                       "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) EXECUTE p ("
                       + ", ".join(args) + ")", apitest.REPLICA_URL)
    return "\n".join("    " + r[0] for r in rows)


VIEW_LOG_SQL = """SELECT v.viewer_id,
 coalesce(p.name, (SELECT name FROM users WHERE id = v.viewer_id)), p.id,
 (extract(epoch FROM v.viewed_at) * 1000000)::bigint, v.id
 FROM (SELECT * FROM (SELECT viewer_id, viewed_at, id FROM profile_views
        WHERE profile_id = $1::bigint AND viewer_id IS NOT NULL AND viewer_id <> $2::bigint
        AND (viewed_at, id) < (timestamptz 'epoch' + ($4::bigint / 1000000) * interval '1 second'
             + ($4::bigint % 1000000) * interval '1 microsecond', $5::bigint)
        ORDER BY viewed_at DESC, id DESC LIMIT 101) w
       ORDER BY viewed_at DESC, id DESC LIMIT $3::bigint) v
 LEFT JOIN LATERAL (SELECT id, name FROM profiles WHERE user_id = v.viewer_id
                    ORDER BY id LIMIT 1) p ON true
 ORDER BY v.viewed_at DESC, v.id DESC"""


def upper(q):
    """profile_prefix_upper for a q whose last code point is below U+10FFFF."""
    return q[:-1] + chr(ord(q[-1]) + 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", action="store_true", help="CI: loaded data, fewer views")
    ap.add_argument("--seconds", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--views", type=int, default=None)
    ap.add_argument("--keep-data", action="store_true", help="leave the big data set loaded")
    ap.add_argument("--skip-seed", action="store_true", help="full run on the profiles loaded")
    a = ap.parse_args()
    seconds = a.seconds or (2 if a.short else 5)
    rounds = a.rounds or (1 if a.short else 3)
    n_views = a.views or (SHORT_VIEWS if a.short else BIG_VIEWS)
    flags = (" --short" if a.short else "") + (f" --views {a.views}" if a.views else "") \
        + (" --keep-data" if a.keep_data else "") + (" --skip-seed" if a.skip_seed else "")
    print(f"members benchmark: {rounds} round(s) x {seconds}s per case, one client, "
          f"workers={os.environ.get('WORKERS', os.cpu_count())}")
    print(f"reproduce: tests/load/members.sh{flags} --seconds {seconds} --rounds {rounds}")
    base = f"http://127.0.0.1:{apitest.HTTP_PORT}"
    goals = benchlib.Goals(short=a.short)
    seeded = False
    owner = pid = None
    try:
        if not a.short and not a.skip_seed:
            seed(BIG_PROFILES)
            seeded = True
        total = int(apitest.sql1("SELECT total FROM profile_stats", apitest.REPLICA_URL))
        owner, pid = load_views(n_views)
        print(f"data: {total:,} profiles; profile {pid} has {n_views:,} views")

        # ---- who viewed my profile ----
        r = apitest.admin("POST", f"/internal/v1/users/{owner}/tokens",
                          headers={"Authorization": "Bearer " + apitest.admin_token()})
        token = r.json["data"]["token"]
        auth = {"Authorization": "Bearer " + token}
        first = get_json(f"/api/v1/me/profile-views?size={VIEW_SIZE}", auth)
        cur, last_t, ordered = first["nextCursor"], None, True
        t0 = time.time()
        for page in range(2, DEEP_PAGE):
            d = get_json(f"/api/v1/me/profile-views?size={VIEW_SIZE}&cursor="
                         f"{urllib.parse.quote(cur)}", auth)
            ts = [c["viewedAt"] for c in d["contents"]]
            ordered = ordered and ts == sorted(ts, reverse=True) and (last_t is None or
                                                                      ts[0] <= last_t)
            last_t = ts[-1]
            cur = d["nextCursor"]
        print(f"walked to page {DEEP_PAGE} through the cursor in {time.time() - t0:.1f} s")
        goals.check(ordered and cur is not None,
                    f"pages 1..{DEEP_PAGE - 1} newest first, a cursor for page {DEEP_PAGE}",
                    always=True)
        url = f"{base}/api/v1/me/profile-views?size={VIEW_SIZE}"
        hdr = {"headers": [f"Authorization: Bearer {token}"], "keepalive": True}
        cases = [("views page 1", url, hdr),
                 (f"views page {DEEP_PAGE}", f"{url}&cursor={urllib.parse.quote(cur)}", hdr)]
        res = benchlib.rounds(cases, rounds, seconds, 1)
        benchlib.table(f"GET /api/v1/me/profile-views, {n_views:,} views, size {VIEW_SIZE}, "
                       "one client", res)
        for name, f in res.items():
            # 0: ab's CSV had no percentiles (nothing measured): not a pass
            goals.check(0 < f["p99"] <= 10.0, f"{name}: p99 {f['p99']:.2f} ms (goal <= 10)")
            goals.check(f["failed"] + f["non2xx"] == 0, f"{name}: no failed request", always=True)
        key = apitest.sql1("SELECT (extract(epoch FROM viewed_at) * 1000000)::bigint || ',' || id "
                           f"FROM profile_views WHERE profile_id = {pid} AND viewer_id IS NOT NULL "
                           f"ORDER BY viewed_at DESC, id DESC OFFSET {(DEEP_PAGE - 1) * VIEW_SIZE - 1} "
                           "LIMIT 1", apitest.REPLICA_URL)
        us, vid = key.split(",")
        print(f"\nEXPLAIN page {DEEP_PAGE} (generic plan of the cursor statement):")
        print(explain(VIEW_LOG_SQL, ["bigint"] * 5,
                      [str(pid), str(owner), str(VIEW_SIZE + 1), us, vid]))

        # ---- search ----
        common = "김"
        rare = apitest.sql1("SELECT left(name, 3) FROM profiles GROUP BY 1 "
                            "HAVING count(*) BETWEEN 25 AND 2000 ORDER BY count(*) DESC LIMIT 1",
                            apitest.REPLICA_URL)
        counts = {p: int(apitest.sql1(f"SELECT count(*) FROM profiles WHERE starts_with(name, '{p}')",
                                      apitest.REPLICA_URL)) for p in (common, rare)}
        print(f"\nsearch: q={common} matches {counts[common]:,}, q={rare} matches {counts[rare]:,}")
        restart_pool(cache=False)
        try:
            cases = []
            for p in (common, rare):
                qp = urllib.parse.quote(p)
                for sort in SORTS:
                    s = urllib.parse.quote(sort)
                    page0 = get_json(f"/api/v1/profiles?q={qp}&sort={s}&size={SEARCH_SIZE}")
                    nxt = get_json(f"/api/v1/profiles?q={qp}&sort={s}&size={SEARCH_SIZE}&cursor="
                                   f"{urllib.parse.quote(page0['nextCursor'])}")
                    c2 = nxt["nextCursor"]
                    goals.check(page0["totalElements"] == counts[p] and c2,
                                f"q={p} {sort}: totalElements = {counts[p]}, a cursor", always=True)
                    cases += [(f"q={p} {sort} p0",
                               f"{base}/api/v1/profiles?q={qp}&sort={s}&size={SEARCH_SIZE}"),
                              (f"q={p} {sort} cursor",
                               f"{base}/api/v1/profiles?q={qp}&sort={s}&size={SEARCH_SIZE}"
                               f"&cursor={urllib.parse.quote(c2)}")]
            res = benchlib.rounds(cases, rounds, seconds, 1)
            benchlib.table(f"GET /api/v1/profiles?q= (PROFILE_CACHE=false), {total:,} profiles, "
                           f"size {SEARCH_SIZE}, one client", res)
            for name, f in res.items():
                goals.check(0 < f["p99"] <= 20.0,
                            f"search {name}: p99 {f['p99']:.2f} ms (goal <= 20)")
                goals.check(f["failed"] + f["non2xx"] == 0, f"search {name}: no failed request",
                            always=True)
        finally:
            restart_pool(cache=True)
        rng = ("(name COLLATE \"C\") >= $3::text AND (name COLLATE \"C\") < $4::text "
               "AND starts_with(name, $3::text)")
        cols = ("id, name, user_id, (extract(epoch FROM created_at) * 1000000)::bigint AS "
                "created_us, view_count")
        types = ["bigint", "bigint", "text", "text"]
        print(f"\nEXPLAIN q={common} name,asc page 0 (order first; generic plan):")
        print(explain(f"SELECT -1::bigint, {cols} FROM profiles "
                      "WHERE name >= $3::text AND name < ($3::text || chr(65535)) AND "
                      "starts_with(name, $3::text) ORDER BY name, id "
                      "LIMIT $1::bigint OFFSET $2::bigint", types[:3],
                      ["11", "0", f"'{common}'"]))
        print(f"\nEXPLAIN q={common} createdAt,desc page 0 (order first; generic plan):")
        print(explain(f"SELECT -1::bigint, {cols} FROM profiles "
                      "WHERE starts_with(name, $3::text) ORDER BY created_at DESC, id DESC "
                      "LIMIT $1::bigint OFFSET $2::bigint", types[:3],
                      ["11", "0", f"'{common}'"]))
        print(f"\nEXPLAIN q={rare} viewCount,desc page 0 (filter first; generic plan):")
        print(explain(f"WITH m AS MATERIALIZED (SELECT {cols} FROM profiles WHERE {rng}) "
                      "SELECT (SELECT count(*) FROM m), * FROM m ORDER BY view_count DESC, id DESC "
                      "LIMIT $1::bigint OFFSET $2::bigint", types,
                      ["11", "0", f"'{rare}'", f"'{upper(rare)}'"]))
    finally:
        if pid and not (seeded and not a.keep_data):
            if not a.keep_data:
                apitest.sql(f"DELETE FROM profile_views WHERE profile_id = {pid}")
                apitest.sql(f"DELETE FROM profiles WHERE id = {pid}")
                apitest.sql(f"DELETE FROM users WHERE id = {owner}")
        if seeded and not a.keep_data:
            seed(0)
    ok = goals.report("members benchmark")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
