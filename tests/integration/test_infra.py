"""test_infra.py: the infrastructure under the modules: migrations are
recorded and rerunning applies nothing; after a PostgreSQL restart the pool
reconnects by itself (reads are retried on a fresh connection, so they do
not fail); Redis going away and coming back is reported by /ready; nginx
answers 502 in the envelope while the pool is down; a bad configuration
value stops the start with a message naming the key; the stack honours the
configuration table's variables."""
import concurrent.futures
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from apitest import (DATABASE_URL, ROOT, STACK_DIR, api, check, eq, is_error_envelope,  # noqa: E402
                     sql1, stack, test, wait_until)

BIN = os.environ.get("MEMBERAPI_BIN", os.path.join(ROOT, "build", "src", "memberapi"))


@test
def migrations_are_recorded_and_rerunning_applies_nothing():
    files = [f for f in os.listdir(os.path.join(ROOT, "db", "migrations")) if f.endswith(".sql")]
    eq(int(sql1("SELECT count(*) FROM schema_migrations")), len(files), "one row per migration")
    r = subprocess.run([os.path.join(ROOT, "db", "migrate.sh"), DATABASE_URL], capture_output=True,
                       text=True)
    eq(r.returncode, 0, r.stderr)
    check("migrate: 0 applied" in r.stdout, r.stdout)


@test
def reads_survive_a_primary_restart():
    eq(api("GET", "/ready").status, 200)
    stack("stop_pg", os.path.join(STACK_DIR, "pg", "primary"))
    r = api("GET", "/ready")
    eq(r.status, 503, "not ready without the primary")
    eq(r.json["components"]["primary"]["status"], "DOWN")
    stack("start_primary")
    # Every thread's old connection is broken; each read is retried once on a
    # new connection, so none of these fails.
    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        statuses = list(ex.map(lambda _: api("GET", "/ready").status, range(64)))
    eq(statuses.count(200), 64, f"statuses after the restart: {sorted(set(statuses))}")
    wait_until(lambda: api("GET", "/ready").json["components"]["replica"]["status"] == "UP", 30,
               what="replica streaming again")


@test
def redis_outage_is_reported_and_recovers():
    stack("stop_pid", os.path.join(STACK_DIR, "run", "redis.pid"), "TERM", "10")
    try:
        r = api("GET", "/ready")
        eq(r.status, 200, "Redis is a cache: still ready")
        eq(r.json["components"]["redis"]["status"], "DOWN")
    finally:
        stack("start_redis")
    wait_until(lambda: api("GET", "/ready").json["components"]["redis"]["status"] == "UP", 10,
               what="redis UP")


@test
def nginx_answers_502_envelope_while_the_pool_is_down():
    stack("stop_pid", os.path.join(STACK_DIR, "run", "pool.pid"), "TERM", "20")
    try:
        r = api("GET", "/health")
        is_error_envelope(r, 502, "SERVICE_UNAVAILABLE")
        eq(r.json["status"], "BAD_GATEWAY")
    finally:
        stack("start_pool")
    wait_until(lambda: api("GET", "/health").status == 200, 10, what="pool back")


MEMBER_SECRET = "integration-test-member-jwt-secret-0123456789"


def check_config(env):
    """check-config with the environment, a member secret (unless env brings
    other member-token keys) and env; a value None removes the key."""
    e = dict(os.environ)
    if not any(k.startswith("MEMBER_JWT_SECRET") or k == "MEMBER_JWT_PUBLIC_KEY_FILE" for k in env):
        e["MEMBER_JWT_SECRET"] = MEMBER_SECRET
    e.update(env)
    e = {k: v for k, v in e.items() if v is not None}
    return subprocess.run([BIN, "check-config"], env=e, capture_output=True, text=True)


@test
def a_bad_configuration_value_names_the_key():
    cases = {
        "WORKERS": ("lots", "WORKERS"),
        "LISTEN": ("nowhere", "LISTEN"),
        "REDIS_URL": ("http://x", "REDIS_URL"),
        "DATABASE_URL": ("mysql://x", "DATABASE_URL"),
        "REDIS_BREAKER_FAILURE_RATE_THRESHOLD": ("101", "REDIS_BREAKER_FAILURE_RATE_THRESHOLD"),
        "LOG_LEVEL": ("loud", "LOG_LEVEL"),
    }
    for key, (value, named) in cases.items():
        r = check_config({key: value})
        eq(r.returncode, 1, f"{key}={value} accepted")
        check(named in r.stderr and "configuration error" in r.stderr, f"{key}: {r.stderr!r}")
    # member token keys: a missing or short secret, a bad key file stop the start,
    # naming the key and never echoing a value
    r = check_config({"MEMBER_JWT_SECRET": None, "MEMBER_JWT_SECRET_FILE": None})
    eq(r.returncode, 1)
    check("MEMBER_JWT_SECRET" in r.stderr, r.stderr)
    r = check_config({"MEMBER_JWT_SECRET": "too-short-member-secret"})
    eq(r.returncode, 1)
    check("MEMBER_JWT_SECRET" in r.stderr and "too-short-member-secret" not in r.stderr, r.stderr)
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
        f.write("-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n"
                "-----END PRIVATE KEY-----\n")
    r = check_config({"MEMBER_JWT_ALG": "RS256", "MEMBER_JWT_PUBLIC_KEY_FILE": f.name,
                      "MEMBER_JWT_SECRET": None, "MEMBER_JWT_SECRET_FILE": None})
    os.unlink(f.name)
    eq(r.returncode, 1)
    check("MEMBER_JWT_PUBLIC_KEY_FILE" in r.stderr and f.name in r.stderr
          and "MIIBVQ" not in r.stderr, r.stderr)
    r = check_config({"MEMBER_JWT_ALG": "none"})
    eq(r.returncode, 1)
    check("MEMBER_JWT_ALG" in r.stderr, r.stderr)
    r = check_config({"ADMIN_TOKEN": "short"})
    eq(r.returncode, 1)
    check("ADMIN_TOKEN" in r.stderr and "short" not in r.stderr, "secret values are never echoed")
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("THREADS=4\nSLOW_REQUEST_MS=250\n")
    r = check_config({"CONFIG_FILE": f.name, "THREADS": "8"})
    os.unlink(f.name)
    eq(r.returncode, 0, r.stderr)
    check("key=THREADS value=8" in r.stderr, "the environment wins over the file")
    check("key=SLOW_REQUEST_MS value=250" in r.stderr, "the file is read")
    check("key=ADMIN_TOKEN value=(set)" in r.stderr or "key=ADMIN_TOKEN value=(unset)" in r.stderr)


def stack_vars(env, names):
    """Sources stack.sh in a clean shell with env; returns the named variables."""
    e = {k: v for k, v in os.environ.items()
         if k not in ("DATABASE_URL", "DATABASE_REPLICA_URL", "REDIS_URL", "TOSS_API_BASE",
                      "TOSS_SECRET_KEY", "PUBLIC_BASE_URL", "ADMIN_TOKEN", "WORKERS")}
    e.update(env)
    e["ROOT"] = ROOT
    script = ". \"$ROOT/scripts/lib/stack.sh\"; " + "; ".join(f'echo "{n}=${n}"' for n in names)
    out = subprocess.run(["bash", "-c", script], env=e, capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@test
def the_stack_honours_the_configuration_table():
    v = stack_vars({}, ["OWN_DB", "OWN_REDIS", "OWN_SANDBOX", "TOSS_API_BASE", "PUBLIC_BASE_URL"])
    eq((v["OWN_DB"], v["OWN_REDIS"], v["OWN_SANDBOX"]), ("1", "1", "1"))
    check(v["TOSS_API_BASE"].startswith("http://127.0.0.1:"), "the sandbox by default")
    v = stack_vars({"DATABASE_URL": "postgresql://u@db.example:5432/x",
                    "TOSS_API_BASE": "https://pg.example", "REDIS_URL": "redis://r.example:6379/1",
                    "HTTP_PORT": "18888", "PUBLIC_BASE_URL": "https://shop.example/pay",
                    "WORKERS": "7", "TOSS_SECRET_KEY": "test_sk_other"},
                   ["OWN_DB", "OWN_REDIS", "OWN_SANDBOX", "DATABASE_URL", "DATABASE_REPLICA_URL",
                    "TOSS_API_BASE", "REDIS_URL", "PUBLIC_BASE_URL", "WORKERS", "TOSS_SECRET_KEY"])
    eq((v["OWN_DB"], v["OWN_REDIS"], v["OWN_SANDBOX"]), ("0", "0", "0"))
    eq(v["DATABASE_URL"], "postgresql://u@db.example:5432/x")
    eq(v["DATABASE_REPLICA_URL"], "", "no local replica for an outside database")
    eq(v["TOSS_API_BASE"], "https://pg.example")
    eq(v["REDIS_URL"], "redis://r.example:6379/1")
    eq(v["PUBLIC_BASE_URL"], "https://shop.example/pay")
    eq(v["WORKERS"], "7")
    eq(v["TOSS_SECRET_KEY"], "test_sk_other")
    # nginx is rendered with the ports of the environment
    with tempfile.TemporaryDirectory() as d:
        e = {"STACK_DIR": d, "HTTP_PORT": "18888", "ADMIN_PORT": "18889"}
        subprocess.run(["bash", "-c", ". \"$ROOT/scripts/lib/stack.sh\"; render_nginx"],
                       env=dict(os.environ, ROOT=ROOT, **e), check=True, capture_output=True)
        conf = open(os.path.join(d, "nginx", "nginx.conf")).read()
        check("listen 127.0.0.1:18888 default_server" in conf and "listen 127.0.0.1:18889;" in conf)
        check("listen 80" not in conf and "0.0.0.0" not in conf, "loopback only")
