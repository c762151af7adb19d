"""test_observability.py: what an operator watches. /metrics (admin only)
is well-formed Prometheus text with every family the operations issue asks
for, and its counters move with traffic; the pool's log has one key=value
line per request with the request id, route, status and duration, and
nginx's access log carries the same request id."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from apitest import STACK_DIR, admin, api, check, eq, sql1, test, wait_until  # noqa: E402

FAMILIES = {
    # requests by route and status, latency histogram, slow requests
    "memberapi_http_requests_total": "counter",
    "memberapi_http_request_duration_seconds": "histogram",
    "memberapi_http_slow_requests_total": "counter",
    # breakers: states and transitions
    "memberapi_breaker_state": "gauge",
    "memberapi_breaker_transitions_total": "counter",
    "memberapi_breaker_not_permitted_total": "counter",
    # cache hits, misses and errors (bypass = Redis down or breaker open)
    "memberapi_profile_cache_total": "counter",
    # view buffer depth and flushes
    "memberapi_profile_view_buffer_depth": "gauge",
    "memberapi_profile_view_flushes_total": "counter",
    "memberapi_profile_views_flushed_total": "counter",
    # payments by state and gateway outcome, reconciler actions
    "memberapi_payments_open": "gauge",
    "memberapi_payment_outcomes_total": "counter",
    "memberapi_payment_gateway_calls_total": "counter",
    "memberapi_payment_reconcile_total": "counter",
    # pool workers and restarts
    "memberapi_pool_workers": "gauge",
    "memberapi_pool_respawns_total": "counter",
    "memberapi_pool_recycled_total": "counter",
}


def parse(text):
    """{family: type}, {series line name{labels}: value}; asserts the format."""
    types, samples, order = {}, {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            check(name not in types, f"two TYPE lines for {name}")
            types[name] = kind
            order.append(name)
        elif line.startswith("#") or not line:
            continue
        else:
            m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+]+|NaN)$', line)
            check(m is not None, f"malformed sample line: {line!r}")
            base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
            fam = m.group(1) if m.group(1) in types else base
            check(fam in types, f"sample before its TYPE: {line!r}")
            check(order[-1] == fam, f"{fam} is not one contiguous group")
            samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return types, samples


def scrape():
    r = admin("GET", "/metrics")
    eq(r.status, 200)
    return parse(r.text)


@test
def metrics_have_every_family_well_formed():
    types, _ = scrape()
    for fam, kind in FAMILIES.items():
        eq(types.get(fam), kind, f"family {fam}")


@test
def metrics_move_with_traffic():
    pid = int(sql1("SELECT min(id) FROM profiles"))
    _, s0 = scrape()
    key = 'memberapi_http_requests_total{route="profile_detail",code="200"}'
    for _ in range(5):
        eq(api("GET", f"/api/v1/profiles/{pid}").status, 200)
    wait_until(lambda: scrape()[1].get("memberapi_profile_view_buffer_depth") == 0.0, 10,
               what="the view buffers drained")
    _, s1 = scrape()
    eq(s1[key] - s0.get(key, 0), 5.0, "detail 200s counted")
    cache = sum(v for k, v in s1.items() if k.startswith("memberapi_profile_cache_total"))
    cache0 = sum(v for k, v in s0.items() if k.startswith("memberapi_profile_cache_total"))
    eq(cache - cache0, 5.0, "every detail read counted once by the cache")
    # Each read is a view flushed, or a repeat by the same client within
    # VIEW_DEDUP_WINDOW_S (docs/profiles.md "Counting views"): not counted.
    flushed = (s1["memberapi_profile_views_flushed_total"]
               - s0["memberapi_profile_views_flushed_total"])
    repeats = (s1.get("memberapi_profile_views_repeat_total", 0)
               - s0.get("memberapi_profile_views_repeat_total", 0))
    check(flushed + repeats >= 5,
          f"every read a view flushed or a repeat ({flushed} flushed, {repeats} repeats)")
    hist = 'memberapi_http_request_duration_seconds_count{route="profile_detail"}'
    eq(s1[hist] - s0.get(hist, 0), 5.0, "latency histogram observed")
    eq(s1["memberapi_pool_workers"], float(os.environ.get("WORKERS", os.cpu_count())))


@test
def request_log_lines_carry_the_request_id():
    rid = f"obs-{int(time.time() * 1000)}"
    eq(api("GET", "/api/v1/profiles?size=3", headers={"X-Request-Id": rid}).status, 200)

    def pool_line():
        with open(os.path.join(STACK_DIR, "log", "memberapi.log"), encoding="utf-8",
                  errors="replace") as f:
            return next((ln for ln in f if f"rid={rid} " in ln and "event=request " in ln), None)
    line = wait_until(pool_line, 5, what="the pool's request line")
    for field in ("level=info", "route=profile_list", "status=200", "method=GET", "dur_ms="):
        check(field in line, f"{field} missing in {line!r}")
    check(re.match(r"^ts=\S+Z level=\w+ pid=\d+ rid=", line), "key=value line shape")

    def nginx_line():
        with open(os.path.join(STACK_DIR, "log", "nginx-access.log"), encoding="utf-8",
                  errors="replace") as f:
            return next((ln for ln in f if f"rid={rid} " in ln), None)
    line = wait_until(nginx_line, 5, what="nginx's access line (buffered up to 1 s)")
    check('"GET /api/v1/profiles?size=3' in line and " 200 " in line, line)
