"""test_members.py: the member's own routes, honest view counts and prefix
search against the running stack (API.md "Members and authorization", "GET
/api/v1/me", "PUT /api/v1/me/profile", "GET /api/v1/me/profile-views",
"Counting views", "Search"; docs/profiles.md for the bounds).

  - the me routes: 401 with WWW-Authenticate without a (valid) token, create
    (201) then rename (200), every bad name 400 and nothing changed;
  - a rename is seen by the detail within the near cache's TTL and by every
    list order within the list TTL + near TTL (the pool runs with a 2 s list
    TTL for that test), and never again the old name after that;
  - who viewed my profile: members newest first, anonymous counted not
    listed, the owner neither; keyset cursor walk; tampered, foreign and
    other-route cursors 400;
  - repeat views: one member's or one address's 40 concurrent reads through
    both workers count once; the owner's never; X-Forwarded-For believed only
    from NGINX_TRUSTED_PROXIES; VIEW_DEDUP_WINDOW_S=0 counts every view;
    Redis stopped: the per-worker fallback counts at most once per worker;
  - search: every order, cursor walk = page walk = PostgreSQL's own
    starts_with + ORDER BY, taken literally (case, %, _, \\), the
    "many matches" plan on the demo data, the 400s and the cursor's q binding.
Every row a test adds is removed again.
"""
import concurrent.futures
import os
import re
import subprocess
import time
import urllib.parse

from apitest import (HTTP_PORT, REPLICA_URL, STACK_DIR, ab, admin, admin_token, api, check, eq,
                     is_error_envelope, pool_status, restart_pool, sql, sql1, stack, test,
                     wait_until)

ME = "/api/v1/me"
BASE = "/api/v1/profiles"
TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
WORKERS = int(os.environ.get("WORKERS", os.cpu_count() or 1))
SORTS = {
    "createdAt,desc": "created_at DESC, id DESC",
    "createdAt,asc": "created_at, id",
    "name,asc": "name, id",
    "name,desc": "name DESC, id DESC",
    "viewCount,desc": "view_count DESC, id DESC",
    "viewCount,asc": "view_count, id",
}


# ---- helpers ---------------------------------------------------------------------

def member_token(user_id):
    r = admin("POST", f"/internal/v1/users/{user_id}/tokens",
              headers={"Authorization": "Bearer " + admin_token()})
    check(r.status in (200, 201), f"token minting: {r!r}")
    return r.json["data"]["token"]


def bearer(token):
    return {"Authorization": "Bearer " + token}


def data_of(r, status=200):
    eq(r.status, status, f"status of {r!r}")
    return r.json["data"]


def q(path, **params):
    return path + "?" + urllib.parse.urlencode(params)


def redis_port():
    m = re.match(r"redis://(?:[^@]*@)?[^:/]+:(\d+)", os.environ.get("REDIS_URL", ""))
    return m.group(1) if m else os.environ.get("STACK_REDIS_PORT", "16379")


def clear_profile_cache():
    out = subprocess.run(["redis-cli", "-p", redis_port(), "--scan", "--pattern", "profile:*"],
                         capture_output=True, text=True, timeout=30).stdout.split()
    for i in range(0, len(out), 500):
        subprocess.run(["redis-cli", "-p", redis_port(), "DEL", *out[i:i + 500]],
                       capture_output=True, timeout=30)
    time.sleep(1.05)  # the near caches' TTL


def metric(name):
    total = 0.0
    for line in admin("GET", "/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_replica(query, want, timeout=10):
    wait_until(lambda: sql1(query, REPLICA_URL) == want, timeout=timeout,
               what=f"replica: {query} = {want}")


class Members:
    """Users created for a test (optionally with a profile through PUT);
    everything of theirs removed on exit."""

    def __init__(self):
        self.users = []

    def __enter__(self):
        return self

    def add(self, name, profile=None):
        uid = int(sql1(f"INSERT INTO users (name) VALUES ('{name}') RETURNING id"))
        self.users.append(uid)
        tok = member_token(uid)
        pid = None
        if profile is not None:
            pid = data_of(api("PUT", f"{ME}/profile", {"name": profile}, bearer(tok)), 201)["id"]
        return uid, tok, pid

    def __exit__(self, *exc):
        if not self.users:
            return
        ids = ",".join(map(str, self.users))
        sql(f"DELETE FROM profile_views WHERE profile_id IN "
            f"(SELECT id FROM profiles WHERE user_id IN ({ids})) OR viewer_id IN ({ids})")
        sql(f"DELETE FROM profiles WHERE user_id IN ({ids})")
        sql(f"DELETE FROM users WHERE id IN ({ids})")


def unique(prefix):
    return f"{prefix}{int(time.time() * 1000) % 100000000}"


def view_count(pid):
    return int(sql1(f"SELECT view_count FROM profiles WHERE id = {pid}"))


def log_rows(pid):
    return int(sql1(f"SELECT count(*) FROM profile_views WHERE profile_id = {pid}"))


def settle():
    """The views of requests already answered are flushed (200 ms interval)."""
    wait_until(lambda: metric("memberapi_profile_view_buffer_depth") == 0.0, timeout=10,
               what="view buffers drained")
    time.sleep(0.5)


def busy(path, headers=None, n=600, c=64):
    """n reads of path by ab at concurrency c (more than a worker's threads,
    so every worker serves some); returns the ab result and how many workers
    served requests meanwhile (from /pool-status)."""
    before = {w["pid"]: w["requests"] for w in pool_status()["workers"]}
    res = ab(f"http://127.0.0.1:{HTTP_PORT}{path}", n=n, c=c, keepalive=False,
             headers=[f"{k}: {v}" for k, v in (headers or {}).items()])
    after = {w["pid"]: w["requests"] for w in pool_status()["workers"]}
    eq((res["complete"], res["failed"], res["non2xx"]), (float(n), 0.0, 0.0), "every read 200")
    return res, sum(1 for p, c in after.items() if c > before.get(p, 0))


def spread(fn, n, threads=8):
    """n calls of fn concurrently; returns the results and how many workers
    served requests meanwhile (from /pool-status)."""
    before = {w["pid"]: w["requests"] for w in pool_status()["workers"]}
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        out = list(ex.map(lambda i: fn(i), range(n)))
    after = {w["pid"]: w["requests"] for w in pool_status()["workers"]}
    served = sum(1 for p, c in after.items() if c > before.get(p, 0))
    return out, served


# ---- the me routes ---------------------------------------------------------------------

@test
def me_routes_need_a_member_token():
    routes = [("GET", ME, None), ("PUT", f"{ME}/profile", {"name": "무토큰"}),
              ("GET", f"{ME}/profile-views", None)]
    for method, path, body in routes:
        for headers in (None, {"Authorization": "Bearer nope"},
                        {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}):
            r = api(method, path, body, headers)
            is_error_envelope(r, 401, "UNAUTHORIZED")
            check((r.header("WWW-Authenticate") or "").startswith("Bearer"),
                  f"{method} {path} {headers}: WWW-Authenticate: Bearer, got {r.headers}")
    # the token is checked before the body
    r = api("PUT", f"{ME}/profile", {"name": ""}, {"Authorization": "Bearer nope"})
    is_error_envelope(r, 401, "UNAUTHORIZED")
    eq(sql1("SELECT count(*) FROM profiles WHERE name = '무토큰'"), "0", "nothing created")


@test
def me_create_then_rename():
    with Members() as m:
        uid, tok, _ = m.add("멤버시험")
        d = data_of(api("GET", ME, headers=bearer(tok)))
        eq(d, {"userId": uid, "name": "멤버시험", "point": 0, "profile": None}, "me without profile")
        p = data_of(api("PUT", f"{ME}/profile", {"name": "  멤버가입 \u3000"}, bearer(tok)), 201)
        eq(p["name"], "멤버가입", "stored trimmed")
        eq(p["userId"], uid, "the token's member")
        eq(p["viewCount"], 0, "no views yet")
        check(TS.match(p["createdAt"]), "Korea time")
        d = data_of(api("GET", ME, headers=bearer(tok)))
        eq(d["profile"], p, "me shows the new profile")
        r = data_of(api("PUT", f"{ME}/profile", {"name": "멤버개명"}, bearer(tok)), 200)
        eq((r["id"], r["name"]), (p["id"], "멤버개명"), "renamed, same profile")
        eq(data_of(api("GET", ME, headers=bearer(tok)))["profile"]["name"], "멤버개명",
           "me reads its own write")
        eq(sql(f"SELECT id, name FROM profiles WHERE user_id = {uid}"),
           [[str(p["id"]), "멤버개명"]], "one profile, renamed")
        eq(data_of(api("GET", f"{BASE}/{p['id']}"))["name"], "멤버개명", "detail")
        # the longest name: 50 code points (of 4 bytes each)
        fifty = "\U0001F600" * 50
        eq(data_of(api("PUT", f"{ME}/profile", {"name": fifty}, bearer(tok)))["name"], fifty,
           "50 code points")
        # a token for a user that does not exist: 404, nothing created
        gone = int(sql1("SELECT coalesce(max(id), 0) + 1000000 FROM users"))
        ghost = member_token(gone)
        is_error_envelope(api("GET", ME, headers=bearer(ghost)), 404, "NO_RESOURCE")
        is_error_envelope(api("PUT", f"{ME}/profile", {"name": "유령"}, bearer(ghost)), 404,
                          "NO_RESOURCE")
        is_error_envelope(api("GET", f"{ME}/profile-views", headers=bearer(ghost)), 404,
                          "NO_RESOURCE")
        eq(sql1(f"SELECT count(*) FROM profiles WHERE user_id = {gone}"), "0", "no ghost profile")


@test
def bad_names_are_400_and_change_nothing():
    with Members() as m:
        uid, tok, pid = m.add("이름규칙", profile="이름규칙")
        bad = [{"name": ""}, {"name": "   "}, {"name": "\u3000\u00a0"}, {"name": "x" * 51},
               {"name": "가" * 51}, {"name": "a\tb"}, {"name": "a\nb"}, {"name": "a\u007fb"},
               {"name": "a\u0085b"}, {"name": "a\u009fb"}, {"name": "a\u0000b"}, {"name": 5},
               {"name": None}, {"name": ["a"]}, {}, {"name": "좋은이름", "extra": 1}, [],
               "not json", '{"name": "a", "name": "b"}']
        for body in bad:
            r = api("PUT", f"{ME}/profile", body,
                    {**bearer(tok), "Content-Type": "application/json; charset=utf-8"})
            is_error_envelope(r, 400, "INVALID_PARAMETER")
        r = api("PUT", f"{ME}/profile", "name=x", {**bearer(tok), "Content-Type": "text/plain"})
        is_error_envelope(r, 415, "UNSUPPORTED_MEDIA_TYPE")
        eq(sql(f"SELECT id, name FROM profiles WHERE user_id = {uid}"),
           [[str(pid), "이름규칙"]], "nothing changed")


@test
def rename_is_seen_everywhere_within_the_bound():
    # Lists cached for 2 s instead of 120 s so the bound fits a test:
    # detail <= near TTL (1 s) on other workers (written through on this one),
    # lists <= list TTL + near TTL + replica lag.
    list_ttl, near = 2.0, 1.0
    restart_pool({"PROFILE_CACHE_LIST_TTL_S": str(int(list_ttl))}, ready=True)
    try:
        with Members() as m:
            tag = unique("")
            old, new = f"개명전{tag}", f"개명후{tag}"
            uid, tok, pid = m.add("개명시험", profile=old)
            wait_replica(f"SELECT name FROM profiles WHERE id = {pid}", old)

            def pages():
                """Every order, searched by the common prefix, plus the
                newest-first list without q: the names shown for pid."""
                shown = []
                for sort in SORTS:
                    d = data_of(api("GET", q(BASE, q=f"개명", sort=sort, size=100)))
                    shown += [p["name"] for p in d["contents"] if p["id"] == pid]
                d = data_of(api("GET", q(BASE, size=20)))
                shown += [p["name"] for p in d["contents"] if p["id"] == pid]
                return shown

            def details(n=16):
                names, served = spread(lambda i: data_of(api("GET", f"{BASE}/{pid}"))["name"], n)
                return names, served

            # warm every cache with the old name, on every worker
            eq(set(pages()), {old}, "lists show the old name")
            names, served = details(32)
            eq(set(names), {old}, "detail shows the old name")
            t0 = time.time()
            data_of(api("PUT", f"{ME}/profile", {"name": new}, bearer(tok)))
            time.sleep(near + 0.2)
            names, served = details(32)
            eq(set(names), {new}, f"detail after the near TTL on {served} worker(s)")
            wait_until(lambda: set(pages()) == {new} and len(pages()) == 7,
                       timeout=list_ttl + near + 3.0, interval=0.2,
                       what="every order shows the new name")
            took = time.time() - t0
            for _ in range(3):  # and stays so: no near cache brings the old one back
                eq(set(pages()), {new}, "lists stay renamed")
                eq(set(details(16)[0]), {new}, "detail stays renamed")
            print(f"  rename seen by every order after {took:.2f} s "
                  f"(bound {list_ttl + near:.0f} s + replica lag)")
    finally:
        restart_pool(ready=True)


# ---- who viewed my profile ---------------------------------------------------------------

@test
def profile_views_newest_first_members_only():
    with Members() as m:
        tag = unique("")
        owner, otok, pid = m.add("주인", profile=f"조회주인{tag}")
        v1, t1, p1 = m.add("첫손님", profile=f"첫손님{tag}")
        v2, t2, _ = m.add("둘째손님")  # no profile: the user's name
        v3, t3, p3 = m.add("셋째손님", profile=f"셋째손님{tag}")
        wait_replica(f"SELECT count(*) FROM profiles WHERE id = {pid}", "1")
        for tok in (t1, t2, t3):
            eq(api("GET", f"{BASE}/{pid}", headers=bearer(tok)).status, 200)
            time.sleep(0.01)
        eq(api("GET", f"{BASE}/{pid}").status, 200)  # anonymous
        eq(api("GET", f"{BASE}/{pid}", headers=bearer(otok)).status, 200)  # the owner
        settle()
        wait_until(lambda: data_of(api("GET", f"{ME}/profile-views", headers=bearer(otok)))
                   ["anonymousViews"] == 1, timeout=10, what="the replica has the views")
        d = data_of(api("GET", q(f"{ME}/profile-views", size=2), headers=bearer(otok)))
        eq(d["size"], 2)
        eq(d["anonymousViews"], 1, "anonymous: counted")
        eq([c["viewerId"] for c in d["contents"]], [v3, v2], "newest first")
        eq(d["contents"][0]["viewerName"], f"셋째손님{tag}", "the viewer's profile name")
        eq(d["contents"][0]["viewerProfileId"], p3)
        eq(d["contents"][1]["viewerName"], "둘째손님", "the user's name without a profile")
        eq(d["contents"][1]["viewerProfileId"], None)
        check(all(TS.match(c["viewedAt"]) for c in d["contents"]), "viewedAt in Korea time")
        check(d["hasNext"] and d["nextCursor"], "more to come")
        cur = d["nextCursor"]
        d2 = data_of(api("GET", q(f"{ME}/profile-views", size=2, cursor=cur), headers=bearer(otok)))
        eq([c["viewerId"] for c in d2["contents"]], [v1], "the rest")
        eq((d2["hasNext"], d2["nextCursor"]), (False, None), "the end")
        eq(d2["contents"][0]["viewerProfileId"], p1)
        all_ = data_of(api("GET", f"{ME}/profile-views", headers=bearer(otok)))
        eq([c["viewerId"] for c in all_["contents"]], [v3, v2, v1], "the owner is not listed")
        eq(all_["size"], 20, "default size")
        eq(view_count(pid), 4, "three members and one address counted, not the owner")
        eq(log_rows(pid), 4, "and logged")

        # cursors: tampered, another member's, another route's; bad sizes
        flipped = cur[:-3] + ("A" if cur[-3] != "A" else "B") + cur[-2:]
        for bad in (flipped, cur[:-1], cur + "A", "x", "%00"):
            is_error_envelope(api("GET", q(f"{ME}/profile-views", cursor=bad), headers=bearer(otok)),
                              400, "INVALID_PARAMETER")
        is_error_envelope(api("GET", q(f"{ME}/profile-views", cursor=cur), headers=bearer(t1)),
                          400, "INVALID_PARAMETER")
        lc = data_of(api("GET", q(BASE, size=2)))["nextCursor"]
        is_error_envelope(api("GET", q(f"{ME}/profile-views", cursor=lc), headers=bearer(otok)),
                          400, "INVALID_PARAMETER")
        is_error_envelope(api("GET", q(BASE, size=2, cursor=cur)), 400, "INVALID_PARAMETER")
        for size in ("0", "101", "-1", "x", ""):
            is_error_envelope(api("GET", f"{ME}/profile-views?size={size}", headers=bearer(otok)),
                              400, "INVALID_PARAMETER")
        # a member without a profile has no view log
        is_error_envelope(api("GET", f"{ME}/profile-views", headers=bearer(t2)), 404, "NO_RESOURCE")


# ---- counting views ------------------------------------------------------------------------

@test
def repeat_views_count_once_across_workers_and_never_the_owners():
    with Members() as m:
        owner, otok, pid = m.add("중복주인", profile=unique("중복시험"))
        viewer, vtok, _ = m.add("중복손님")
        wait_replica(f"SELECT count(*) FROM profiles WHERE id = {pid}", "1")
        rep0, own0 = metric("memberapi_profile_views_repeat_total"), \
            metric("memberapi_profile_views_own_total")
        n = 600
        _, served = busy(f"{BASE}/{pid}", bearer(vtok), n=n)
        check(served >= min(2, WORKERS), f"the reads reached {served} workers")
        eq(api("GET", f"{BASE}/{pid}", headers=bearer(vtok)).status, 200)  # openapi-checked
        n += 1
        anon = 200
        _, served = busy(f"{BASE}/{pid}", n=anon)  # one address
        check(served >= min(2, WORKERS), f"the anonymous reads reached {served} workers")
        # X-Forwarded-For from a peer that is not a trusted proxy changes nothing
        eq(api("GET", f"{BASE}/{pid}", headers={"X-Forwarded-For": "198.51.100.7"}).status, 200)
        st, _ = spread(lambda i: api("GET", f"{BASE}/{pid}", headers=bearer(otok)).status, 10)
        settle()
        eq(view_count(pid), 2, f"{n} reads by one member and {anon + 1} by one address: two views")
        eq(log_rows(pid), 2, "two log rows")
        check(metric("memberapi_profile_views_repeat_total") - rep0 >= n + anon + 1 - 2,
              "the repeats were counted as repeats")
        eq(metric("memberapi_profile_views_own_total") - own0, 10.0, "the owner's own views")


@test
def x_forwarded_for_only_from_trusted_proxies():
    stack("start_nginx", env={"NGINX_TRUSTED_PROXIES": "127.0.0.1/32, ::1"})
    time.sleep(1.0)  # a reload: the old nginx workers finish their connections
    try:
        with Members() as m:
            _, _, pid = m.add("프록시주인", profile=unique("프록시시험"))
            wait_replica(f"SELECT count(*) FROM profiles WHERE id = {pid}", "1")
            for addr in ("203.0.113.1", "203.0.113.2", "203.0.113.1", "203.0.113.2"):
                eq(api("GET", f"{BASE}/{pid}", headers={"X-Forwarded-For": addr}).status, 200)
            # recursive: the last untrusted address of the chain is the client
            eq(api("GET", f"{BASE}/{pid}",
                   headers={"X-Forwarded-For": "203.0.113.3, 127.0.0.1"}).status, 200)
            settle()
            eq(view_count(pid), 3, "three client addresses behind the trusted proxy")
    finally:
        stack("start_nginx")
        time.sleep(1.0)


@test
def window_zero_counts_every_view_but_the_owners():
    restart_pool({"VIEW_DEDUP_WINDOW_S": "0"}, ready=True)
    try:
        with Members() as m:
            owner, otok, pid = m.add("창영주인", profile=unique("창영시험"))
            wait_replica(f"SELECT count(*) FROM profiles WHERE id = {pid}", "1")
            for _ in range(5):
                eq(api("GET", f"{BASE}/{pid}").status, 200)
                eq(api("GET", f"{BASE}/{pid}", headers=bearer(otok)).status, 200)
            settle()
            eq(view_count(pid), 5, "every anonymous view, none of the owner's")
    finally:
        restart_pool(ready=True)


@test
def without_redis_each_worker_counts_a_viewer_once():
    redis_pid = os.path.join(STACK_DIR, "run", "redis.pid")
    with Members() as m:
        _, _, pid = m.add("레디스주인", profile=unique("레디스시험"))
        viewer, vtok, _ = m.add("레디스손님")
        wait_replica(f"SELECT count(*) FROM profiles WHERE id = {pid}", "1")
        local0 = metric("memberapi_profile_view_dedup_local_total")
        stack("stop_pid", redis_pid, "TERM", "10")
        try:
            _, served = busy(f"{BASE}/{pid}", bearer(vtok), n=300)
        finally:
            stack("start_redis")
        settle()
        n = view_count(pid)
        check(1 <= n <= served, f"{n} views: at most one per worker that served ({served}) "
                                f"without Redis")
        check(metric("memberapi_profile_view_dedup_local_total") > local0,
              "the workers decided alone")
    wait_until(lambda: api("GET", "/ready").status == 200, timeout=20, what="/ready again")


# ---- search ---------------------------------------------------------------------------------

SEARCH = "찾기시험"
SEARCH_NAMES = [SEARCH, SEARCH + "가", SEARCH + "나다", SEARCH + "A", SEARCH + "a", SEARCH + "%x",
                SEARCH + "_y", SEARCH + "\\z", SEARCH + " 공백", SEARCH + "1", SEARCH + "가나",
                "찾기시", "찾기시엄", "x" + SEARCH]


class SearchFixture:
    def __enter__(self):
        self.user = int(sql1("INSERT INTO users (name) VALUES ('search-test') RETURNING id"))
        values = ",".join(
            "('{}', {}, {}, now() - interval '{} seconds')".format(
                n.replace("'", "''"), self.user, (i * 7) % 4, (i % 5))
            for i, n in enumerate(SEARCH_NAMES))
        sql("INSERT INTO profiles (name, user_id, view_count, created_at) VALUES " + values)
        wait_replica(f"SELECT count(*) FROM profiles WHERE user_id = {self.user}",
                     str(len(SEARCH_NAMES)))
        clear_profile_cache()
        return self

    def __exit__(self, *exc):
        sql(f"DELETE FROM profiles WHERE user_id = {self.user}")
        sql(f"DELETE FROM users WHERE id = {self.user}")
        clear_profile_cache()


def expected(prefix, sort, limit=None):
    lit = prefix.replace("'", "''")
    lim = f" LIMIT {limit}" if limit else ""
    return [int(r[0]) for r in sql(f"SELECT id FROM profiles WHERE starts_with(name, '{lit}') "
                                   f"ORDER BY {SORTS[sort]}{lim}", REPLICA_URL)]


def walk(prefix, sort, size, by_cursor, max_pages=1000):
    ids, cursor, page, total = [], None, 0, None
    for _ in range(max_pages):
        params = {"q": prefix, "sort": sort, "size": size}
        if by_cursor and cursor:
            params["cursor"] = cursor
        elif not by_cursor:
            params["page"] = page
        d = data_of(api("GET", q(BASE, **params)))
        total = d["totalElements"]
        ids += [p["id"] for p in d["contents"]]
        check(all(p["name"].startswith(prefix) for p in d["contents"]), "every name starts with q")
        if not d["hasNext"]:
            eq(d["nextCursor"], None, "no cursor on the last page")
            break
        cursor, page = d["nextCursor"], page + 1
    return ids, total


@test
def search_in_every_order_cursor_and_page_walks_equal_sql():
    with SearchFixture():
        for sort in SORTS:
            want = expected(SEARCH, sort)
            eq(len(want), 11, "fixture matches")
            for by_cursor in (True, False):
                got, total = walk(SEARCH, sort, 3, by_cursor)
                eq(got, want, f"{sort} {'cursor' if by_cursor else 'page'} walk")
                eq(total, 11, "totalElements counts the matches")


@test
def search_is_literal():
    with SearchFixture():
        cases = {SEARCH + "%": [SEARCH + "%x"], SEARCH + "_": [SEARCH + "_y"],
                 SEARCH + "\\": [SEARCH + "\\z"], SEARCH + "a": [SEARCH + "a"],
                 SEARCH + "A": [SEARCH + "A"], SEARCH + " ": [SEARCH + " 공백"],
                 SEARCH + "가": [SEARCH + "가", SEARCH + "가나"], "찾기시엄": ["찾기시엄"],
                 "ㅊ": [], "찾기시험가나다": []}
        for prefix, names in cases.items():
            d = data_of(api("GET", q(BASE, q=prefix, sort="name,asc", size=100)))
            eq(sorted(p["name"] for p in d["contents"]), sorted(names), f"q={prefix!r}")
            eq(d["totalElements"], len(names), f"q={prefix!r} total")


@test
def search_with_many_matches_follows_the_order_index():
    # More than 2,000 demo names start with 김: the "order first" plan.
    clear_profile_cache()
    total = int(sql1("SELECT count(*) FROM profiles WHERE starts_with(name, '김')", REPLICA_URL))
    check(total > 2000, f"the demo data has {total} names starting with 김 (> 2,000 needed)")
    for sort in ("createdAt,desc", "createdAt,asc", "name,asc", "name,desc"):
        got, t = walk("김", sort, 10, True, max_pages=3)
        eq(got, expected("김", sort, 30), f"{sort}: three pages by cursor")
        eq(t, total, "totalElements")
        d = data_of(api("GET", q(BASE, q="김", sort=sort, size=10, page=2)))
        eq([p["id"] for p in d["contents"]], expected("김", sort, 30)[20:], f"{sort} page 2")


@test
def search_400s_and_the_cursor_carries_q_and_sort():
    for bad in ("", "가" * 51, "x" * 51):
        is_error_envelope(api("GET", q(BASE, q=bad)), 400, "INVALID_PARAMETER")
    is_error_envelope(api("GET", BASE + "?q=a&q=b"), 400, "INVALID_PARAMETER")
    is_error_envelope(api("GET", BASE + "?q=%FF"), 400, "INVALID_PARAMETER")
    eq(api("GET", q(BASE, q="가" * 50)).status, 200, "50 code points")
    with SearchFixture():
        cur = data_of(api("GET", q(BASE, q=SEARCH, sort="name,asc", size=2)))["nextCursor"]
        check(cur, "a cursor")
        eq(api("GET", q(BASE, q=SEARCH, sort="name,asc", size=2, cursor=cur)).status, 200)
        for params in ({"q": SEARCH + "가"}, {"q": "찾기"}, {}, {"q": SEARCH, "sort": "name,desc"},
                       {"q": SEARCH, "sort": "createdAt,desc"}):
            params.setdefault("sort", "name,asc")
            is_error_envelope(api("GET", q(BASE, cursor=cur, size=2, **params)), 400,
                              "INVALID_PARAMETER")
        plain = data_of(api("GET", q(BASE, sort="name,asc", size=2)))["nextCursor"]
        is_error_envelope(api("GET", q(BASE, q=SEARCH, sort="name,asc", cursor=plain)), 400,
                          "INVALID_PARAMETER")
