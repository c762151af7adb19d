"""test_scaling.py: horizontal scaling. Two pools, each on its own test host
(a network namespace with its own address, tests/lib/hosts.sh), behind the
stack's nginx. Under ab load, a backend killed outright (SIGKILL of its
master and workers) loses no GET: nginx retries it on the other backend; a
backend host whose network goes away loses none either (connect timeout,
then the next backend). Adding a backend is one `server` line
(nginx_upstreams). The stack's own pool is nginx's backend again afterwards."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from apitest import (HTTP_PORT, STACK_DIR, ab, api, check, eq, stack,  # noqa: E402
                     test, wait_until)

URL = f"http://127.0.0.1:{HTTP_PORT}"
LOGS = os.path.join(STACK_DIR, "log")


def hosts(fn, *args):
    return stack(". \"$ROOT/tests/lib/hosts.sh\"; " + fn, *args)


def ip(k):
    return hosts("host_ip", k).strip()


def served_by(k):
    with open(os.path.join(LOGS, f"memberapi-h{k}.log"), "rb") as f:
        return f.read().count(b"event=request ")


def under_load(seconds, action_at, action, url="/ready", c=16):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", ab(URL + url, c=c, seconds=seconds)))
    t.start()
    time.sleep(action_at)
    action()
    t.join()
    return box["r"]


def setup():
    hosts("hosts_up", 2)
    hosts("gw_start")
    hosts("host_pool_start", 1)
    hosts("host_pool_start", 2)
    hosts("nginx_upstreams", f"{ip(1)}:9000 {ip(2)}:9000")


def teardown():
    hosts("nginx_upstreams", "")
    hosts("hosts_down")
    wait_until(lambda: api("GET", "/health").status == 200, 10, what="stack pool serving again")


@test
def a_killed_backend_loses_no_get():
    setup()
    try:
        before = (served_by(1), served_by(2))
        res = under_load(6, 2.0, lambda: hosts("host_pool_kill", 1))
        check(res["complete"] > 200, f"load ran: {res['complete']}")
        eq(int(res["failed"]), 0, "failed GETs")
        eq(int(res["non2xx"]), 0, "non-2xx GETs")
        check(served_by(1) > before[0] and served_by(2) > before[1], "both backends served")
        # bring it back: one command, and it takes its share again
        hosts("host_pool_start", 1)
        time.sleep(2.5)  # nginx tries a failed server again after fail_timeout (2 s)
        n1 = served_by(1)
        res = ab(URL + "/ready", c=16, n=2000)
        eq(int(res["failed"] + res["non2xx"]), 0)
        check(served_by(1) > n1, "the restarted backend serves again")
    finally:
        teardown()


@test
def a_backend_host_off_the_network_loses_no_get():
    setup()
    try:
        ns = hosts("bash", "-c", ". \"$ROOT/tests/lib/hosts.sh\"; echo $NS").strip()
        res = under_load(8, 2.0, lambda: hosts(
            "ip", "-n", f"{ns}2", "link", "set", f"{ns}2e", "down"), url="/health")
        eq(int(res["failed"]), 0, "failed GETs")
        eq(int(res["non2xx"]), 0, "non-2xx GETs")
        check(res["complete"] > 200, "load ran")
    finally:
        teardown()
