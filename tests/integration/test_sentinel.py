"""test_sentinel.py: the Redis client follows Redis Sentinel. A master, a
replica and one sentinel run on loopback; the pool is restarted with
REDIS_SENTINELS; the master is killed; the sentinel promotes the replica
and the pool's Redis connections follow it (/ready shows Redis UP again,
and the new master is the old replica). The pool is restarted with the
stack's configuration at the end."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from apitest import STACK_DIR, api, check, eq, restart_pool, test, wait_until  # noqa: E402

BASE = int(os.environ.get("STACK_REDIS_PORT", "16379")) + 100
MASTER, REPLICA, SENTINEL = BASE, BASE + 1, BASE + 2
DIR = os.path.join(STACK_DIR, "sentinel-test")


def redis_cli(port, *args):
    r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                       capture_output=True, text=True, timeout=5)
    return r.stdout.strip()


def start(name, port, extra):
    conf = os.path.join(DIR, f"{name}.conf")
    with open(conf, "w") as f:
        f.write(f"bind 127.0.0.1\nport {port}\ndaemonize yes\npidfile {DIR}/{name}.pid\n"
                f"logfile {DIR}/{name}.log\ndir {DIR}\nsave \"\"\nappendonly no\n{extra}")
    args = ["redis-server", conf] + (["--sentinel"] if name == "sentinel" else [])
    subprocess.run(args, check=True)
    wait_until(lambda: redis_cli(port, "PING") == "PONG", 10, what=f"{name} up")


def pid(name):
    with open(os.path.join(DIR, f"{name}.pid")) as f:
        return int(f.read().strip())


def stop_all():
    for name in ("sentinel", "replica", "master"):
        try:
            os.kill(pid(name), signal.SIGKILL)
        except (OSError, ValueError):
            pass


@test
def the_redis_client_follows_a_sentinel_failover():
    os.makedirs(DIR, exist_ok=True)
    stop_all()
    try:
        start("master", MASTER, "")
        start("replica", REPLICA, f"replicaof 127.0.0.1 {MASTER}\n")
        start("sentinel", SENTINEL,
              f"sentinel monitor mm 127.0.0.1 {MASTER} 1\n"
              "sentinel down-after-milliseconds mm 600\n"
              "sentinel failover-timeout mm 3000\n")
        wait_until(lambda: "master_link_status:up" in redis_cli(REPLICA, "INFO", "replication"), 10,
                   what="replica in sync")
        # REDIS_URL names a port where nothing listens: only the sentinel
        # can lead the pool to a Redis.
        restart_pool({"REDIS_SENTINELS": f"127.0.0.1:{SENTINEL}", "REDIS_SENTINEL_MASTER": "mm",
                      "REDIS_URL": "redis://127.0.0.1:1/0"})
        wait_until(lambda: api("GET", "/ready").json["components"]["redis"]["status"] == "UP", 10,
                   what="redis via sentinel")
        os.kill(pid("master"), signal.SIGKILL)
        t0 = time.time()
        wait_until(lambda: redis_cli(SENTINEL, "SENTINEL", "get-master-addr-by-name", "mm")
                   .split("\n")[-1] == str(REPLICA), 20, what="sentinel failover")
        wait_until(lambda: api("GET", "/ready").json["components"]["redis"]["status"] == "UP", 10,
                   what="redis UP on the promoted replica")
        eq(redis_cli(REPLICA, "ROLE").split("\n")[0], "master")
        check(time.time() - t0 < 25, "failover followed in time")
        eq(api("GET", "/health").status, 200)
    finally:
        restart_pool({})
        stop_all()
