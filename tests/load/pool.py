#!/usr/bin/env python3
"""pool.py: the body of tests/load/pool.sh (see there)."""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import apitest  # noqa: E402


def keep_conn_comparison(base, keepalive, rounds, seconds):
    """The pool with nginx's fastcgi_keep_conn off (the default) and on.

    With keep_conn on, every connection nginx keeps pins one request thread
    of the pool (libfcgi reads the next request from it), so the upstream
    keepalive must stay below the pool's thread count; the hello-world
    (one thread per process) cannot be measured that way at all."""
    res = {}
    try:
        for c in (32, 256):
            res[f"keep_conn off, c={c}"] = benchlib.rounds(
                [("x", base + "/health")], rounds, seconds, c)["x"]
        os.environ["STACK_FCGI_KEEPALIVE"] = str(keepalive)
        apitest.stack("start_nginx")
        time.sleep(2)  # let the old nginx workers finish before measuring
        for c in (32, 256):
            res[f"keep_conn on ({keepalive}/nginx worker), c={c}"] = benchlib.rounds(
                [("x", base + "/health")], rounds, seconds, c)["x"]
    finally:
        os.environ["STACK_FCGI_KEEPALIVE"] = "0"
        apitest.stack("start_nginx")
    benchlib.table("pool GET /health: nginx fastcgi_keep_conn off vs on", res,
                   base="keep_conn off, c=32")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", action="store_true", help="CI: a few seconds per case")
    ap.add_argument("--seconds", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--keep-conn", type=int, default=8,
                    help="nginx upstream keepalive per nginx worker for the keep-conn comparison (0: skip)")
    a = ap.parse_args()
    seconds = a.seconds or (2 if a.short else 10)
    rounds = a.rounds or (1 if a.short else 3)
    base = f"http://127.0.0.1:{apitest.HTTP_PORT}"
    print(f"pool benchmark: {rounds} round(s) x {seconds}s per case, workers={os.environ.get('WORKERS', os.cpu_count())}")
    print("reproduce: tests/load/pool.sh" + (" --short" if a.short else "")
          + f" --seconds {seconds} --rounds {rounds}")
    benchlib.stack("hello_start")
    goals = benchlib.Goals(short=a.short)
    try:
        for c in (32, 256):
            cases = [("hello-world (ceiling)", base + "/__hello"),
                     ("pool GET /health", base + "/health"),
                     ("nginx static file", base + "/health.json")]
            res = benchlib.rounds(cases, rounds, seconds, c)
            benchlib.table(f"concurrency {c}, keep-alive", res, base="hello-world (ceiling)")
            ratio = res["pool GET /health"]["rps"] / res["hello-world (ceiling)"]["rps"]
            errors = sum(int(f["failed"] + f["non2xx"]) for f in res.values())
            goals.check(ratio >= 0.9, f"c={c}: /health at {ratio:.2f} x hello-world (goal >= 0.90)")
            goals.check(errors == 0, f"c={c}: {errors} failed requests (goal 0)", always=True)
        if a.keep_conn:
            keep_conn_comparison(base, a.keep_conn, rounds, seconds)
    finally:
        benchlib.stack("hello_stop")
    ok = goals.report("pool benchmark")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
