"""test_profiles.py: GET /api/v1/profiles and /api/v1/profiles/{id} against the
running stack (API.md, Profiles; docs/profiles.md for the choices).

Covers every sort order and pagination rule, cursor walks equal to page walks
equal to PostgreSQL's own ORDER BY over the whole demo set, every bad
parameter, Korean name order with Latin letters and digits, createdAt in Korea
time, the cache (keys, TTLs, negative caching, stampede lock) and view
recording (exactness under concurrency, viewer id, nothing for 404/400/HEAD).
Rows a test adds are removed again; the profile cache is cleared where a test
compares against PostgreSQL (Redis is only a cache).
"""
import concurrent.futures
import contextlib
import os
import re
import subprocess
import threading
import time
import urllib.parse

from apitest import (REPLICA_URL, admin, admin_token, api, check, eq, is_error_envelope,
                     restart_pool, sql, sql1, test, wait_until)

SORTS = {
    "createdAt,desc": "created_at DESC, id DESC",
    "createdAt,asc": "created_at, id",
    "name,asc": "name, id",
    "name,desc": "name DESC, id DESC",
    "viewCount,desc": "view_count DESC, id DESC",
    "viewCount,asc": "view_count, id",
}
BASE = "/api/v1/profiles"


def redis_port():
    url = os.environ.get("REDIS_URL")
    if url:
        m = re.match(r"redis://(?:[^@]*@)?[^:/]+:(\d+)", url)
        if m:
            return m.group(1)
    return os.environ.get("STACK_REDIS_PORT", "16379")


def redis(*args):
    r = subprocess.run(["redis-cli", "-p", redis_port(), *args], capture_output=True, text=True,
                       timeout=10)
    return r.stdout.strip()


# The workers' near cache keeps a value for this long after Redis lost it.
NEAR_TTL_S = int(os.environ.get("PROFILE_CACHE_NEAR_TTL_MS", "1000")) / 1000.0


def forget(*keys):
    """Deletes cache keys and waits out the near cache, so the next read
    really goes to Redis."""
    if keys:
        redis("DEL", *keys)
    time.sleep(NEAR_TTL_S + 0.05)


def clear_profile_cache():
    keys = [k for k in redis("--scan", "--pattern", "profile:*").splitlines() if k]
    for i in range(0, len(keys), 500):
        redis("DEL", *keys[i:i + 500])
    forget()


def metrics():
    text = admin("GET", "/metrics").text
    out = {}
    for line in text.splitlines():
        if line.startswith("memberapi_profile_") and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def metric(m, name, **labels):
    if labels:
        name += "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    return m.get(name, 0.0)


def get(path, headers=None):
    r = api("GET", path, headers=headers)
    return r


def data_of(r):
    eq(r.status, 200, f"status of {r!r}")
    j = r.json
    eq(j["code"], 200)
    eq(j["status"], "OK")
    return j["data"]


def q(**params):
    return BASE + "?" + urllib.parse.urlencode(params)


def wait_replica(query, want, timeout=10):
    """Waits until the replica answers `want` to a scalar query."""
    wait_until(lambda: sql1(query, REPLICA_URL) == want, timeout=timeout, what=f"replica: {query}")


def walk_pages(sort, size, max_pages=None):
    ids, page, total = [], 0, None
    while max_pages is None or page < max_pages:
        d = data_of(get(q(sort=sort, size=size, page=page)))
        eq(d["page"], page, "page")
        eq(d["size"], size, "size")
        if total is None:
            total = d["totalElements"]
        eq(d["totalElements"], total, "totalElements stays the same during the walk")
        eq(d["totalPages"], (total + size - 1) // size, "totalPages")
        ids += [p["id"] for p in d["contents"]]
        if not d["hasNext"]:
            eq(d["nextCursor"], None, "nextCursor on the last page")
            break
        check(len(d["contents"]) == size, "a page before the last is full")
        page += 1
    if max_pages is None:
        eq(len(ids), total, f"{sort}: rows walked by page")
    return ids


def walk_cursor(sort, size, max_pages=None):
    d = data_of(get(q(sort=sort, size=size)))
    ids = [p["id"] for p in d["contents"]]
    pages = 1
    while d["hasNext"] and (max_pages is None or pages < max_pages):
        cur = d["nextCursor"]
        check(isinstance(cur, str) and cur, "nextCursor while hasNext")
        d = data_of(get(q(sort=sort, size=size, cursor=cur)))
        eq(d["page"], pages, "page number told by the cursor")
        ids += [p["id"] for p in d["contents"]]
        pages += 1
    if max_pages is None:
        eq(d["nextCursor"], None, "nextCursor on the last page")
    return ids


def sql_ids(order):
    return [int(r[0]) for r in sql(f"SELECT id FROM profiles ORDER BY {order}", REPLICA_URL)]


# ---- shapes and orders ------------------------------------------------------------

@test
def list_default_shape_and_order():
    clear_profile_cache()
    r = get(BASE)
    d = data_of(r)
    eq(sorted(d.keys()), sorted(["page", "size", "totalElements", "totalPages", "hasNext",
                                 "nextCursor", "contents"]), "page keys")
    eq(d["page"], 0)
    eq(d["size"], 10)
    total = int(sql1("SELECT count(*) FROM profiles", REPLICA_URL))
    eq(d["totalElements"], total, "totalElements")
    eq(len(d["contents"]), 10)
    eq([p["id"] for p in d["contents"]], sql_ids(SORTS["createdAt,desc"] + " LIMIT 10"),
       "default order is createdAt,desc")
    p = d["contents"][0]
    eq(sorted(p.keys()), ["createdAt", "id", "name", "userId", "viewCount"], "ProfileResponse keys")
    check(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", p["createdAt"]), "createdAt format")
    check(r.header("Content-Type").startswith("application/json"), "JSON content type")


@test
def every_order_cursor_walk_equals_page_walk_equals_sql():
    clear_profile_cache()
    for sort, order in SORTS.items():
        expected = sql_ids(order)
        by_page = walk_pages(sort, 100)
        by_cursor = walk_cursor(sort, 100)
        eq(by_page, expected, f"{sort}: page walk vs ORDER BY {order}")
        eq(by_cursor, expected, f"{sort}: cursor walk vs ORDER BY {order}")


@test
def odd_page_size_walks_agree():
    clear_profile_cache()
    for sort in ("name,desc", "viewCount,asc"):
        by_cursor = walk_cursor(sort, 7, max_pages=150)
        eq(len(by_cursor), 7 * 150)
        eq(by_cursor, walk_pages(sort, 7, max_pages=150), f"{sort} size 7")
        eq(by_cursor, sql_ids(SORTS[sort] + " LIMIT 1050"), f"{sort} size 7 vs SQL")


@test
def contents_match_the_database_including_korea_time():
    clear_profile_cache()
    d = data_of(get(q(sort="createdAt,asc", size=20, page=3)))
    ids = [p["id"] for p in d["contents"]]
    rows = sql("SELECT id, name, user_id, view_count, "
               "to_char(created_at AT TIME ZONE 'Asia/Seoul', 'YYYY-MM-DD HH24:MI:SS') "
               "FROM profiles WHERE id = ANY('{" + ",".join(map(str, ids)) + "}') ", REPLICA_URL)
    by_id = {int(r[0]): r for r in rows}
    for p in d["contents"]:
        r = by_id[p["id"]]
        eq(p["name"], r[1], "name")
        eq(p["userId"], int(r[2]), "userId")
        eq(p["viewCount"], int(r[3]), "viewCount")
        eq(p["createdAt"], r[4], "createdAt in Asia/Seoul")


@test
def ties_are_broken_by_id_in_the_same_direction():
    # Most demo profiles share a view count: the tie-break decides the order.
    clear_profile_cache()
    for sort, desc in (("viewCount,desc", True), ("viewCount,asc", False)):
        d = data_of(get(q(sort=sort, size=100, page=5)))
        pairs = [(p["viewCount"], p["id"]) for p in d["contents"]]
        eq(pairs, sorted(pairs, reverse=desc), f"{sort} with id tie-break")
        check(len({v for v, _ in pairs}) < len(pairs), "the page has ties (test is meaningful)")


@test
def created_at_cursor_is_exact_to_the_microsecond():
    # Four profiles: two at the same microsecond (the id decides), and one
    # and two microseconds later. A cursor rounded to milliseconds or seconds
    # would skip or repeat some of them; so would SQL that turns the key into
    # a timestamp through double precision (inexact past 2^53 us, year 2255).
    for t in ("2031-05-06 07:08:09.123456+00", "2300-01-02 03:04:05.678901+00"):
        created_at_neighbours(t)


def created_at_neighbours(t):
    with Fixture(["마이크로1", "마이크로2", "마이크로3", "마이크로4"]) as f:
        ids = [f.ids[n] for n in ("마이크로1", "마이크로2", "마이크로3", "마이크로4")]
        for i, extra in zip(ids, (0, 0, 1, 2)):
            sql(f"UPDATE profiles SET created_at = timestamptz '{t}' + {extra} * interval '1 microsecond' "
                f"WHERE id = {i}")
        wait_replica(f"SELECT count(*) FROM profiles WHERE created_at >= '{t}' AND user_id = {f.user}",
                     "4")
        clear_profile_cache()
        for sort, want in (("createdAt,asc", ids), ("createdAt,desc", ids[::-1])):
            cond = (f"created_at < '{t}'" if sort.endswith("asc")
                    else f"created_at > timestamptz '{t}' + interval '2 microseconds'")
            before = int(sql1(f"SELECT count(*) FROM profiles WHERE {cond}", REPLICA_URL))
            if before == 0:  # they are the first rows of this order
                d = data_of(get(q(sort=sort, size=1)))
                got = [p["id"] for p in d["contents"]]
            else:
                d = data_of(get(q(sort=sort, size=1, page=before - 1)))
                got = []
            while len(got) < 4:
                d = data_of(get(q(sort=sort, size=1, cursor=d["nextCursor"])))
                got += [p["id"] for p in d["contents"]]
            eq(got, want, f"{sort} across microsecond neighbours")


# ---- pagination rules ---------------------------------------------------------------

@test
def size_bounds_and_page_beyond_the_end():
    clear_profile_cache()
    d = data_of(get(q(size=100)))
    eq(len(d["contents"]), 100, "size 100 is allowed")
    d = data_of(get(q(size=1)))
    eq(len(d["contents"]), 1, "size 1 is allowed")
    total = d["totalElements"]
    for page in (total // 10 + 1, 2147483647):
        d = data_of(get(q(size=10, page=page)))
        eq(d["contents"], [], f"page {page} beyond the end is empty")
        eq(d["hasNext"], False)
        eq(d["nextCursor"], None)
        eq(d["totalElements"], total, "the total is still told")
        eq(d["page"], page)


@test
def last_page_has_no_next_cursor():
    clear_profile_cache()
    d = data_of(get(q(size=100)))
    last = (d["totalElements"] - 1) // 100
    d = data_of(get(q(size=100, page=last)))
    eq(d["hasNext"], False)
    eq(d["nextCursor"], None)
    check(1 <= len(d["contents"]) <= 100, "the last page has rows")
    d = data_of(get(q(size=100, page=last - 1)))
    eq(d["hasNext"], True)
    check(d["nextCursor"], "a page before the last has a cursor")


@test
def cursor_wins_over_page_and_may_change_size():
    clear_profile_cache()
    first = data_of(get(q(sort="name,asc", size=10)))
    cur = first["nextCursor"]
    plain = data_of(get(q(sort="name,asc", size=10, cursor=cur)))
    with_page = data_of(get(q(sort="name,asc", size=10, cursor=cur, page=40)))
    eq(with_page["contents"], plain["contents"], "page is ignored when a cursor is given")
    eq(with_page["page"], 1)
    sized = data_of(get(q(sort="name,asc", size=25, cursor=cur)))
    expected = sql_ids(SORTS["name,asc"] + " LIMIT 25 OFFSET 10")
    eq([p["id"] for p in sized["contents"]], expected, "continuing with another size")
    eq(sized["page"], 0, "page = rows before / size")


@test
def cursor_of_another_sort_or_altered_is_refused():
    d = data_of(get(q(sort="viewCount,desc", size=5)))
    cur = d["nextCursor"]
    for sort in SORTS:
        if sort == "viewCount,desc":
            continue
        r = get(q(sort=sort, cursor=cur))
        is_error_envelope(r, 400, "INVALID_PARAMETER")
        check("cursor" in r.json["errorMessage"], "the message names the cursor")
    # the default sort (createdAt,desc) is another sort too
    is_error_envelope(get(q(cursor=cur)), 400, "INVALID_PARAMETER")
    flips = 0
    for i in range(0, len(cur), max(1, len(cur) // 12)):
        c = "A" if cur[i] != "A" else "B"
        bad = cur[:i] + c + cur[i + 1:]
        is_error_envelope(get(q(sort="viewCount,desc", cursor=bad)), 400, "INVALID_PARAMETER")
        flips += 1
    check(flips >= 10, "enough positions tried")


# ---- bad parameters ------------------------------------------------------------------

BAD_LIST_QUERIES = [
    "page=-1", "page=abc", "page=1.5", "page=", "page=01", "page=+1", "page=%201",
    "page=2147483648", "page=99999999999999999999", "page=0&page=1",
    "size=0", "size=101", "size=-5", "size=ten", "size=", "size=1e2", "size=10&size=10",
    "sort=", "sort=name", "sort=name,", "sort=,asc", "sort=name,up", "sort=Name,asc",
    "sort=createdAt,desc,id", "sort=id,asc", "sort=viewcount,desc", "sort=name%2Casc%00",
    "sort=name,asc&sort=name,asc",
    "cursor=", "cursor=garbage", "cursor=AAAA", "cursor=%00", "cursor=" + "A" * 2000,
    "cursor=a&cursor=b",
    "page=%ZZ",
]


@test
def every_bad_list_parameter_is_400():
    for qs in BAD_LIST_QUERIES:
        r = get(BASE + "?" + qs)
        try:
            is_error_envelope(r, 400, "INVALID_PARAMETER")
        except AssertionError as e:
            raise AssertionError(f"?{qs[:60]}: {e}")


@test
def bad_detail_ids_are_400():
    for raw in ("0", "-1", "abc", "1.5", "9223372036854775808", "01", "1e3", "%201", "+1",
                "0x10", "99999999999999999999999"):
        r = get(BASE + "/" + raw)
        try:
            is_error_envelope(r, 400, "INVALID_PARAMETER")
        except AssertionError as e:
            raise AssertionError(f"/{raw}: {e}")
    r = get(BASE + "/9223372036854775807")
    is_error_envelope(r, 404, "NO_RESOURCE")


@test
def methods_other_than_get_are_405():
    r = api("POST", BASE, body={})
    is_error_envelope(r, 405, "METHOD_NOT_ALLOWED")
    r = api("DELETE", BASE + "/1")
    is_error_envelope(r, 405, "METHOD_NOT_ALLOWED")


# ---- Korean order --------------------------------------------------------------------

class Fixture:
    """A user with a few profiles of chosen names; removed on exit."""

    def __init__(self, names):
        self.names = names

    def __enter__(self):
        self.ids = {}
        self.user = int(sql1("INSERT INTO users (name) VALUES ('profile-test') RETURNING id"))
        try:
            values = ",".join(f"('{n}', {self.user})" for n in self.names)
            rows = sql(f"INSERT INTO profiles (name, user_id) VALUES {values} RETURNING id, name")
            # psql prints the command tag after the rows
            self.ids = {r[1]: int(r[0]) for r in rows if len(r) == 2}
            eq(len(self.ids), len(self.names), "fixture rows")
        except BaseException:
            self.__exit__()
            raise
        wait_replica(f"SELECT count(*) FROM profiles WHERE user_id = {self.user}",
                     str(len(self.names)))
        return self

    def __exit__(self, *exc):
        ids = ",".join(str(i) for i in self.ids.values())
        if ids:
            sql(f"DELETE FROM profile_views WHERE profile_id IN ({ids})")
        sql(f"DELETE FROM profiles WHERE user_id = {self.user}")
        sql(f"DELETE FROM users WHERE id = {self.user}")
        wait_replica(f"SELECT count(*) FROM users WHERE id = {self.user}", "0")
        clear_profile_cache()


KOREAN_ORDER = ["!느낌표", "1004", "123", "가나", "김민지", "나비", "하늘", "alpha", "Beta", "Zeta"]


@test
def name_order_is_korean_dictionary_then_latin_with_digits_first():
    shuffled = ["Zeta", "하늘", "123", "가나", "alpha", "!느낌표", "나비", "Beta", "1004", "김민지"]
    with Fixture(shuffled) as f:
        clear_profile_cache()
        mine = set(f.ids.values())
        names = {v: k for k, v in f.ids.items()}
        for sort, want in (("name,asc", KOREAN_ORDER), ("name,desc", KOREAN_ORDER[::-1])):
            walked = [i for i in walk_cursor(sort, 100) if i in mine]
            eq([names[i] for i in walked], want, sort)


@test
def demo_names_follow_the_documented_classes():
    # Over the whole demo set: punctuation < digits < Hangul < Latin, Hangul
    # syllables in dictionary (code point) order, Latin case-insensitively.
    clear_profile_cache()
    names = []
    d = data_of(get(q(sort="name,asc", size=100)))
    names += [p["name"] for p in d["contents"]]
    while d["hasNext"]:
        d = data_of(get(q(sort="name,asc", size=100, cursor=d["nextCursor"])))
        names += [p["name"] for p in d["contents"]]

    def cls(n):
        c = n[0]
        if c.isdigit():
            return 1
        if "\uac00" <= c <= "\ud7a3":
            return 2
        if c.isascii() and c.isalpha():
            return 3
        return 0

    classes = [cls(n) for n in names]
    eq(classes, sorted(classes), "class order: other < digits < Hangul < Latin")
    check({1, 2, 3} <= set(classes), "the demo data has digits, Hangul and Latin names")
    hangul = [n for n in names if cls(n) == 2 and all("\uac00" <= c <= "\ud7a3" for c in n)]
    eq(hangul, sorted(hangul), "Hangul names in 가나다 order")
    latin = [n.lower() for n in names if cls(n) == 3]
    eq(latin, sorted(latin), "Latin names case-insensitively")


# ---- detail, cache --------------------------------------------------------------------

@test
def detail_shape_and_korea_time():
    pid = int(sql1("SELECT min(id) FROM profiles", REPLICA_URL))
    redis("DEL", f"profile:v1:g1:d:{pid}")
    d = data_of(get(f"{BASE}/{pid}"))
    row = sql("SELECT id, name, user_id, "
              "to_char(created_at AT TIME ZONE 'Asia/Seoul', 'YYYY-MM-DD HH24:MI:SS') "
              f"FROM profiles WHERE id = {pid}", REPLICA_URL)[0]
    eq(d["id"], pid)
    eq(d["name"], row[1])
    eq(d["userId"], int(row[2]))
    eq(d["createdAt"], row[3], "createdAt in Asia/Seoul")
    check(isinstance(d["viewCount"], int), "viewCount is an integer")


@test
def missing_profile_is_404_and_negatively_cached():
    missing = int(sql1("SELECT coalesce(max(id), 0) + 1000000 FROM profiles"))
    key = f"profile:v1:g1:d:{missing}"
    forget(key)
    r = get(f"{BASE}/{missing}")
    is_error_envelope(r, 404, "NO_RESOURCE")
    check(str(missing) in r.json["errorMessage"], "message names the id")
    eq(redis("GET", key), "-", "a missing id is cached as '-'")
    ttl = int(redis("TTL", key))
    check(0 < ttl <= 5, f"negative TTL is short (got {ttl})")
    m0 = metrics()
    is_error_envelope(get(f"{BASE}/{missing}"), 404, "NO_RESOURCE")
    m1 = metrics()
    eq(sum(metric(m1, "memberapi_profile_cache_total", kind="detail", result=res)
           - metric(m0, "memberapi_profile_cache_total", kind="detail", result=res)
           for res in ("negative_hit", "near_hit")), 1.0,
       "second 404 came from the negative cache (Redis, or the worker's near copy)")


@test
def detail_and_list_are_cached_with_their_ttls():
    pid = int(sql1("SELECT min(id) + 1 FROM profiles", REPLICA_URL))
    key = f"profile:v1:g1:d:{pid}"
    forget(key)
    data_of(get(f"{BASE}/{pid}"))
    ttl = int(redis("TTL", key))
    check(50 < ttl <= 60, f"detail TTL about 60 s (got {ttl})")
    m0 = metrics()
    data_of(get(f"{BASE}/{pid}"))
    m1 = metrics()
    eq(sum(metric(m1, "memberapi_profile_cache_total", kind="detail", result=res)
           - metric(m0, "memberapi_profile_cache_total", kind="detail", result=res)
           for res in ("hit", "near_hit")), 1.0, "hit (Redis, or the worker's near copy)")
    lkey = "profile:v1:g1:l:name,desc:13:2"
    forget(lkey)
    a = data_of(get(q(sort="name,desc", size=13, page=2)))
    ttl = int(redis("TTL", lkey))
    check(110 < ttl <= 120, f"list TTL about 120 s (got {ttl})")
    b = data_of(get(q(sort="name,desc", size=13, page=2)))
    eq(a, b, "the cached page is the same page")


@test
def near_cache_serves_hot_keys_and_expires():
    pid = int(sql1("SELECT min(id) + 2 FROM profiles", REPLICA_URL))
    key = f"profile:v1:g1:d:{pid}"
    forget(key)
    before = data_of(get(f"{BASE}/{pid}"))
    m0 = metrics()
    n = 20
    for _ in range(n):
        data_of(get(f"{BASE}/{pid}"))
    m1 = metrics()
    near = (metric(m1, "memberapi_profile_cache_total", kind="detail", result="near_hit")
            - metric(m0, "memberapi_profile_cache_total", kind="detail", result="near_hit"))
    workers = int(os.environ.get("WORKERS", os.cpu_count()))
    check(near >= n - workers, f"{near} of {n} reads from the near cache (at most one Redis read "
                               f"per worker)")
    # A change invisible in Redis (the key is dropped) shows once the near copy expires.
    old = before["name"]
    sql(f"UPDATE profiles SET name = '근접캐시' WHERE id = {pid}")
    try:
        wait_replica(f"SELECT name FROM profiles WHERE id = {pid}", "근접캐시")
        forget(key)
        eq(data_of(get(f"{BASE}/{pid}"))["name"], "근접캐시", "fresh after the near TTL")
    finally:
        sql(f"UPDATE profiles SET name = '{old}' WHERE id = {pid}")
        wait_replica(f"SELECT name FROM profiles WHERE id = {pid}", old)
        forget(key)


@test
def hot_missing_key_is_computed_once():
    missing = int(sql1("SELECT coalesce(max(id), 0) + 2000000 FROM profiles"))
    redis("DEL", f"profile:v1:g1:d:{missing}", f"profile:v1:g1:d:{missing}:lock")
    n = 40
    barrier = threading.Barrier(n)

    def one(_):
        barrier.wait()
        return get(f"{BASE}/{missing}").status

    m0 = metrics()
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        statuses = list(ex.map(one, range(n)))
    m1 = metrics()
    eq(statuses, [404] * n, "every request answered 404")

    def delta(name, **labels):
        return metric(m1, name, **labels) - metric(m0, name, **labels)

    reads = delta("memberapi_profile_db_reads_total", kind="detail", role="replica") + \
        delta("memberapi_profile_db_reads_total", kind="detail", role="primary")
    misses = delta("memberapi_profile_cache_total", kind="detail", result="miss")
    check(misses >= 1, "someone recomputed")
    # One read is the design; a slow (sanitizer) build may let a few waiters
    # time out and read too. Without the lock every request would read.
    check(reads <= n // 4, f"{n} concurrent requests for one missing id read PostgreSQL "
                           f"{reads:.0f} times (expected one; at most {n // 4} tolerated)")


# ---- views ------------------------------------------------------------------------------

def member_token(user_id):
    r = admin("POST", f"/internal/v1/users/{user_id}/tokens",
              headers={"Authorization": "Bearer " + admin_token()})
    eq(r.status, 201, f"token minting: {r!r}")
    return r.json["data"]["token"]


@contextlib.contextmanager
def every_view_counts():
    """VIEW_DEDUP_WINDOW_S=0 for the block: the tests in it count raw views
    (one client re-reading one profile), not the repeat-view rule that
    test_members.py covers."""
    restart_pool({"VIEW_DEDUP_WINDOW_S": "0"}, ready=True)
    try:
        yield
    finally:
        restart_pool(ready=True)


def views_of(pid):
    return int(sql1(f"SELECT count(*) FROM profile_views WHERE profile_id = {pid}"))


@test
def concurrent_views_are_recorded_exactly_once_each():
    with Fixture(["조회수시험"]) as f, every_view_counts():
        pid = f.ids["조회수시험"]
        # a member who is not the owner (the owner's own views never count)
        viewer = int(sql1("SELECT min(id) FROM users"))
        token = member_token(viewer)
        n = 200
        auth = {"Authorization": "Bearer " + token}

        def one(i):
            return get(f"{BASE}/{pid}", headers=auth if i % 2 == 0 else None).status

        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            statuses = list(ex.map(one, range(n)))
        eq(statuses.count(200), n, "every read answered 200")
        wait_until(lambda: views_of(pid) >= n, timeout=15, what=f"{n} view rows")
        time.sleep(1.0)  # several flush intervals: nothing more may arrive
        eq(views_of(pid), n, "log rows")
        eq(int(sql1(f"SELECT view_count FROM profiles WHERE id = {pid}")), n, "view_count")
        eq(int(sql1(f"SELECT count(*) FROM profile_views WHERE profile_id = {pid} "
                    f"AND viewer_id = {viewer}")), n // 2, "viewer recorded with a token")
        eq(int(sql1(f"SELECT count(*) FROM profile_views WHERE profile_id = {pid} "
                    "AND viewer_id IS NULL")), n // 2, "anonymous without one")
        recent = int(sql1(f"SELECT count(*) FROM profile_views WHERE profile_id = {pid} "
                          "AND viewed_at > now() - interval '1 minute'"))
        eq(recent, n, "viewed_at is the time of the read")


@test
def no_view_for_404_400_401_or_head():
    with Fixture(["헤드요청"]) as f:
        pid = f.ids["헤드요청"]
        missing = int(sql1("SELECT coalesce(max(id), 0) + 3000000 FROM profiles"))
        m0 = metrics()
        for _ in range(3):
            is_error_envelope(get(f"{BASE}/{missing}"), 404, "NO_RESOURCE")
            is_error_envelope(get(f"{BASE}/0"), 400, "INVALID_PARAMETER")
            is_error_envelope(get(f"{BASE}/{pid}", headers={"Authorization": "Bearer nope"}),
                              401, "UNAUTHORIZED")
            r = api("HEAD", f"{BASE}/{pid}")
            eq(r.status, 200, "HEAD answers")
            eq(r.body, b"", "HEAD has no body")
        time.sleep(0.6)
        m1 = metrics()
        eq(metric(m1, "memberapi_profile_views_recorded_total")
           - metric(m0, "memberapi_profile_views_recorded_total"), 0.0, "nothing recorded")
        eq(views_of(missing), 0, "no row for the missing id")
        eq(views_of(pid), 0, "no row for the HEAD-only profile")


@test
def bad_or_expired_tokens_are_401():
    pid = int(sql1("SELECT min(id) FROM profiles", REPLICA_URL))
    good = member_token(1)
    for h in ("Bearer x", "Bearer " + good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
              "Bearer v1.1.1.abc", "Basic dXNlcjpwYXNz", "Bearer"):
        r = get(f"{BASE}/{pid}", headers={"Authorization": h})
        is_error_envelope(r, 401, "UNAUTHORIZED")
    data_of(get(f"{BASE}/{pid}", headers={"Authorization": "Bearer " + good}))


@test
def view_batches_apply_exactly_once():
    # What the flusher relies on when a COMMIT's acknowledgement is lost: the
    # same batch sent again changes nothing.
    with Fixture(["배치시험"]) as f:
        pid = f.ids["배치시험"]
        batch = "6f1c3a52-0d1e-4c1b-9a57-" + "%012x" % pid
        call = (f"SELECT profile_views_apply('{batch}', '{{{pid},{pid},{pid}}}', "
                f"'{{NULL,{f.user},NULL}}', '{{1764000000000000,1764000000000001,1764000000000002}}')")
        eq(sql1(call), "t", "first application")
        eq(sql1(call), "f", "the retry is recognised")
        eq(views_of(pid), 3, "rows once")
        eq(int(sql1(f"SELECT view_count FROM profiles WHERE id = {pid}")), 3, "count once")
        sql(f"DELETE FROM profile_view_batches WHERE batch_id = '{batch}'")
