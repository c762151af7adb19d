"""test_service.py: the pool as systemd's Type=notify unit (debian/
memberapi.service) sees it. A second pool, on sockets of its own, started
with NOTIFY_SOCKET pointing at a datagram socket of the test, must say
READY=1 once its workers serve (and not before: a probe right after READY
answers), RELOADING=1 then READY=1 around a SIGHUP, and STOPPING=1 on
SIGTERM, then exit 0. And `memberapi probe`, the health check of the unit's
operators and of the containers, runs without any secret."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from apitest import ROOT, check, eq, pool_env, test  # noqa: E402

BIN = os.environ.get("MEMBERAPI_BIN", os.path.join(ROOT, "build", "src", "memberapi"))




def expect(sock, want, timeout):
    sock.settimeout(timeout)
    try:
        got = sock.recv(256).decode()
    except socket.timeout:
        raise AssertionError(f"no {want!r} from the pool within {timeout} s")
    eq(got, want, "sd_notify message")


@test
def the_pool_speaks_systemds_notify_protocol():
    with tempfile.TemporaryDirectory() as d:
        notify = os.path.join(d, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(notify)
        env = pool_env()
        env.update(NOTIFY_SOCKET=notify, LISTEN=os.path.join(d, "pool.sock"), ADMIN_LISTEN="",
                   WORKERS="1", THREADS="2", PID_FILE="", LOG_FILE=os.path.join(d, "pool.log"),
                   RECONCILE_INTERVAL_S="3600", PROFILE_MAINTENANCE_INTERVAL_S="86400")
        p = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            expect(sock, "READY=1", 30)
            probe = subprocess.run([BIN, "probe", "/health"], env=env, capture_output=True,
                                   text=True, timeout=10)
            eq(probe.returncode, 0, f"probe right after READY=1: {probe.stdout}{probe.stderr}")
            p.send_signal(signal.SIGHUP)
            expect(sock, "RELOADING=1", 10)
            expect(sock, "READY=1", 30)
            p.send_signal(signal.SIGTERM)
            expect(sock, "STOPPING=1", 10)
            eq(p.wait(timeout=30), 0, "exit status after SIGTERM")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            sock.close()


@test
def outside_systemd_nothing_is_sent_and_the_pool_starts():
    with tempfile.TemporaryDirectory() as d:
        env = pool_env()
        env.pop("NOTIFY_SOCKET", None)
        env.update(LISTEN=os.path.join(d, "pool.sock"), ADMIN_LISTEN="", WORKERS="1",
                   THREADS="2", PID_FILE="", LOG_FILE=os.path.join(d, "pool.log"),
                   RECONCILE_INTERVAL_S="3600")
        p = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 30
            ok = False
            while time.time() < deadline and not ok:
                r = subprocess.run([BIN, "probe", "/health"], env=env, capture_output=True,
                                   timeout=10)
                ok = r.returncode == 0
                time.sleep(0.2)
            check(ok, "the pool serves /health without NOTIFY_SOCKET")
            with open(os.path.join(d, "pool.log")) as f:
                check("event=pool_ready" in f.read(), "pool_ready logged")
            p.send_signal(signal.SIGTERM)
            eq(p.wait(timeout=30), 0, "exit status")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


@test
def the_probe_needs_no_secrets():
    # an operator's (or a container's) health check knows where the sockets
    # are, not the member-token key, the admin token or the database
    sock = pool_env()["LISTEN"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LISTEN": sock}
    for path, want in (("/health", "200"), ("/pool-status", "200")):
        r = subprocess.run([BIN, "probe", path], env=env, capture_output=True, text=True,
                           timeout=10)
        eq(r.returncode, 0, f"probe {path} without secrets: {r.stdout}{r.stderr}")
        check(r.stdout.strip().endswith(f"{path}: {want}"), r.stdout)
