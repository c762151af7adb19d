#!/usr/bin/env python3
"""profiles.py: the body of tests/load/profiles.sh (see there). Runs the pool
with VIEW_DEDUP_WINDOW_S=0 (raw view throughput) and restores it after."""
import argparse
import os
import re
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import apitest  # noqa: E402

SORTS = ["createdAt,desc", "createdAt,asc", "name,asc", "name,desc", "viewCount,desc",
         "viewCount,asc"]
SIZE = 10
BIG_PROFILES, BIG_VIEWS = 1_000_000, 10_000_000


def redis_port():
    url = os.environ.get("REDIS_URL", "")
    m = re.match(r"redis://(?:[^@]*@)?[^:/]+:(\d+)", url)
    return m.group(1) if m else os.environ.get("STACK_REDIS_PORT", "16379")


def clear_profile_cache():
    out = subprocess.run(["redis-cli", "-p", redis_port(), "--scan", "--pattern", "profile:*"],
                         capture_output=True, text=True, timeout=60).stdout.split()
    for i in range(0, len(out), 1000):
        subprocess.run(["redis-cli", "-p", redis_port(), "DEL", *out[i:i + 1000]],
                       capture_output=True, timeout=60)


def metrics():
    out = {}
    for line in apitest.admin("GET", "/metrics").text.splitlines():
        if line.startswith("memberapi_"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def detail_200s():
    return metrics().get('memberapi_http_requests_total{route="profile_detail",code="200"}', 0.0)


def breaker(name):
    return apitest.api("GET", "/ready").json["breakers"][name]["state"]


def get_json(path):
    r = apitest.api("GET", path, timeout=60)
    if r.status != 200:
        raise RuntimeError(f"GET {path}: {r.status} {r.text[:200]}")
    return r.json["data"]


def seed_big():
    url = apitest.DATABASE_URL
    print(f"loading {BIG_PROFILES:,} profiles and {BIG_VIEWS:,} views (seed --reset)...", flush=True)
    subprocess.run(["/usr/bin/python3", os.path.join(apitest.ROOT, "db", "seed.py"),
                    "--database-url", url, "--profiles", str(BIG_PROFILES),
                    "--views", str(BIG_VIEWS), "--reset"], check=True)
    # The visibility map lets the offset form skip rows with an index-only scan.
    apitest.sql("VACUUM ANALYZE profiles")
    wait_replica()


def seed_default():
    print("putting the default demo data back (seed --reset)...", flush=True)
    subprocess.run(["/usr/bin/python3", os.path.join(apitest.ROOT, "db", "seed.py"),
                    "--database-url", apitest.DATABASE_URL, "--reset"], check=True)
    wait_replica()
    clear_profile_cache()


def wait_replica():
    lsn = apitest.sql1("SELECT pg_current_wal_lsn()")
    apitest.wait_until(
        lambda: apitest.sql1(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn",
                             apitest.REPLICA_URL) == "t",
        timeout=600, interval=1, what="the replica to replay the load")


def restart_pool(cache, near=True):
    """The pool again with the cache on or off, the near cache on or off."""
    for key, on, off in (("PROFILE_CACHE", cache, "false"),
                         ("PROFILE_CACHE_NEAR_TTL_MS", near, "0")):
        if on:
            os.environ.pop(key, None)
        else:
            os.environ[key] = off
    apitest.stack('stop_pid "$RUN/pool.pid" TERM 20; start_pool; wait_ready 60')


def drive_redis_closed(base_path):
    """Reads different profiles (a hot one would be served by the workers'
    near caches without touching Redis) until the Redis breaker is CLOSED."""
    prefix = base_path.rsplit("/", 1)[0]
    n = [0]

    def closed():
        for _ in range(20):
            n[0] += 1
            apitest.api("GET", f"{prefix}/{n[0]}")
        return breaker("redis") == "CLOSED"
    apitest.wait_until(closed, timeout=30, interval=0.2, what="redis breaker CLOSED")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", action="store_true", help="CI: loaded data, a few seconds per case")
    ap.add_argument("--seconds", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--skip-seed", action="store_true", help="full run on the data already loaded")
    ap.add_argument("--keep-data", action="store_true", help="leave the big data set loaded")
    a = ap.parse_args()
    seconds = a.seconds or (2 if a.short else 8)
    rounds = a.rounds or (1 if a.short else 3)
    base = f"http://127.0.0.1:{apitest.HTTP_PORT}"
    api = "/api/v1/profiles"
    flags = (" --short" if a.short else "") + (" --skip-seed" if a.skip_seed else "") \
        + (" --keep-data" if a.keep_data else "")
    print(f"profiles benchmark: {rounds} round(s) x {seconds}s per case, "
          f"workers={os.environ.get('WORKERS', os.cpu_count())}")
    print(f"reproduce: tests/load/profiles.sh{flags} --seconds {seconds} --rounds {rounds}")
    # Raw view throughput: one client re-reads one profile, so the repeat-view
    # rule would count it once per window; it is off for the whole run.
    os.environ["VIEW_DEDUP_WINDOW_S"] = "0"
    print("note: VIEW_DEDUP_WINDOW_S=0 (every view counts) for this benchmark")
    restart_pool(cache=True)

    seeded = False
    if not a.short and not a.skip_seed:
        seed_big()
        seeded = True
    total = int(apitest.sql1("SELECT total FROM profile_stats", apitest.REPLICA_URL))
    deep = min(50_000, max(1, total // SIZE // 2))
    print(f"data: {total:,} profiles, "
          f"{int(apitest.sql1('SELECT count(*) FROM profile_views')):,} view rows; "
          f"deep page = {deep:,} (size {SIZE})")
    goals = benchlib.Goals(short=a.short)
    hot = int(apitest.sql1("SELECT min(id) FROM profiles", apitest.REPLICA_URL))
    detail = f"{api}/{hot}"
    listed = f"{api}?page=3&size={SIZE}&sort=createdAt,desc"
    rows0 = int(apitest.sql1(f"SELECT count(*) FROM profile_views WHERE profile_id = {hot}"))
    vc0 = int(apitest.sql1(f"SELECT view_count FROM profiles WHERE id = {hot}"))
    served0 = detail_200s()
    ab_done = 0.0
    cache_hit_rps = {}

    clear_profile_cache()
    benchlib.stack("hello_start")
    try:
        # ---- cached detail and list page, against the ceiling ----
        for c in (32, 256):
            get_json(detail)
            get_json(listed)
            cases = [("hello-world (ceiling)", base + "/__hello"),
                     ("detail, cache hit", base + detail),
                     ("list page, cache hit", base + listed)]
            res = benchlib.rounds(cases, rounds, seconds, c)
            benchlib.table(f"concurrency {c}, keep-alive", res, base="hello-world (ceiling)")
            ceiling = res["hello-world (ceiling)"]["rps"]
            ab_done += res["detail, cache hit"]["complete"]
            cache_hit_rps[c] = res["detail, cache hit"]["rps"]
            for name in ("detail, cache hit", "list page, cache hit"):
                f = res[name]
                ratio = f["rps"] / ceiling if ceiling else 0.0
                goals.check(ratio >= 0.7, f"c={c}: {name} at {ratio:.2f} x hello-world (goal >= 0.70)")
                if c == 32:
                    goals.check(f["p99"] <= 10.0, f"c=32: {name} p99 {f['p99']:.2f} ms (goal <= 10)")
            errors = sum(int(f["failed"] + f["non2xx"]) for f in res.values())
            goals.check(errors == 0, f"c={c}: {errors} failed requests (goal 0)", always=True)

        # ---- Redis stopped: reads go to the replica ----
        redis_pid = os.path.join(apitest.STACK_DIR, "run", "redis.pid")
        try:
            apitest.stack("stop_pid", redis_pid, "TERM", "10")
            apitest.wait_until(lambda: (apitest.api("GET", detail), breaker("redis"))[1] == "OPEN",
                               timeout=10, what="redis breaker OPEN")
            res = benchlib.rounds([("detail, Redis stopped", base + detail)], rounds, seconds, 32)
        finally:
            apitest.stack("start_redis")
        benchlib.table("Redis stopped, concurrency 32 (ratio to the cache-hit detail)",
                       {"detail, cache hit": {**res["detail, Redis stopped"],
                                              "rps": cache_hit_rps[32], "p50": 0, "p99": 0,
                                              "failed": 0, "non2xx": 0},
                        **res}, base="detail, cache hit")
        f = res["detail, Redis stopped"]
        ab_done += f["complete"]
        ratio = f["rps"] / cache_hit_rps[32] if cache_hit_rps[32] else 0.0
        goals.check(ratio >= 0.5, f"Redis stopped: detail at {ratio:.2f} x cache hit (goal >= 0.50)")
        goals.check(f["failed"] + f["non2xx"] == 0,
                    f"Redis stopped: {int(f['failed'] + f['non2xx'])} failed requests (goal 0)",
                    always=True)

        # ---- no view lost: every 200 the pool sent is one log row ----
        served = detail_200s() - served0

        def rows():
            return int(apitest.sql1(f"SELECT count(*) FROM profile_views WHERE profile_id = {hot}"))
        try:
            apitest.wait_until(lambda: rows() - rows0 >= served, timeout=60, interval=0.5,
                               what="the view buffers to drain")
        except AssertionError:
            pass
        time.sleep(1.0)
        added = rows() - rows0
        vc_added = int(apitest.sql1(f"SELECT view_count FROM profiles WHERE id = {hot}")) - vc0
        print(f"\nviews: {served:.0f} detail 200s served (ab counted {ab_done:.0f}), "
              f"{added} log rows and view_count +{vc_added} after the drain")
        goals.check(added == served and vc_added == served and served >= ab_done,
                    f"no view lost or doubled: {added} rows, +{vc_added} view_count for "
                    f"{served:.0f} responses", always=True)
        # Redis is back: reads of other profiles close its breaker again
        # (counted after the views above, which are the hot profile's).
        drive_redis_closed(detail)

        # ---- the same without the workers' near cache: every read is a
        # Redis GET, or with Redis stopped a replica query ----
        restart_pool(cache=True, near=False)
        try:
            get_json(detail)
            res = benchlib.rounds([("hello-world (ceiling)", base + "/__hello"),
                                   ("detail, Redis hit", base + detail)], rounds, seconds, 32)
            try:
                apitest.stack("stop_pid", redis_pid, "TERM", "10")
                apitest.wait_until(
                    lambda: (apitest.api("GET", detail), breaker("redis"))[1] == "OPEN",
                    timeout=10, what="redis breaker OPEN")
                res.update(benchlib.rounds([("detail, Redis stopped (replica)", base + detail)],
                                           rounds, seconds, 32))
            finally:
                apitest.stack("start_redis")
            benchlib.table("near cache off (PROFILE_CACHE_NEAR_TTL_MS=0), concurrency 32", res,
                           base="hello-world (ceiling)")
            hit, down = res["detail, Redis hit"], res["detail, Redis stopped (replica)"]
            ratio = down["rps"] / hit["rps"] if hit["rps"] else 0.0
            goals.check(ratio >= 0.5, f"near cache off, Redis stopped: detail at {ratio:.2f} x "
                        f"the Redis hit (goal >= 0.50)")
            errors = sum(int(f["failed"] + f["non2xx"]) for f in res.values())
            goals.check(errors == 0, f"near cache off: {errors} failed requests (goal 0)",
                        always=True)
            drive_redis_closed(detail)
        finally:
            restart_pool(cache=True)

        # ---- uncached lists, one client ----
        restart_pool(cache=False)
        try:
            cases = []
            for sort in SORTS:
                s = urllib.parse.quote(sort)
                before = get_json(f"{api}?sort={s}&size={SIZE}&page={deep - 1}")
                cur = before["nextCursor"]
                if not cur:
                    raise RuntimeError(f"no cursor at page {deep - 1} of {sort}")
                check = get_json(f"{api}?sort={s}&size={SIZE}&cursor={urllib.parse.quote(cur)}")
                offset = get_json(f"{api}?sort={s}&size={SIZE}&page={deep}")
                if check["contents"] != offset["contents"] or check["page"] != deep:
                    raise RuntimeError(f"{sort}: cursor page {deep} differs from the offset page")
                cases += [(f"{sort} page 0", f"{base}{api}?sort={s}&size={SIZE}"),
                          (f"{sort} cursor p{deep}",
                           f"{base}{api}?sort={s}&size={SIZE}&cursor={urllib.parse.quote(cur)}"),
                          (f"{sort} offset p{deep}", f"{base}{api}?sort={s}&size={SIZE}&page={deep}")]
            res = benchlib.rounds(cases, rounds, seconds, 1)
            benchlib.table(f"uncached lists (PROFILE_CACHE=false), one client, size {SIZE}", res,
                           base=f"{SORTS[0]} page 0")
            for name, f in res.items():
                if " offset " in name:
                    continue
                goals.check(f["p99"] <= 20.0, f"uncached {name}: p99 {f['p99']:.2f} ms (goal <= 20)")
            errors = sum(int(f["failed"] + f["non2xx"]) for f in res.values())
            goals.check(errors == 0, f"uncached lists: {errors} failed requests (goal 0)", always=True)
        finally:
            restart_pool(cache=True)
    finally:
        benchlib.stack("hello_stop")
        os.environ.pop("VIEW_DEDUP_WINDOW_S", None)
        restart_pool(cache=True)
        apitest.stack("start_redis")
    if seeded and not a.keep_data:
        seed_default()
    ok = goals.report("profiles benchmark")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
