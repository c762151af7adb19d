"""test_defects.py: known defects of issue 10, each shown fixed from the
outside: member tokens without USER_TOKEN_SECRET answer 503 (the route) or
exit with a message (the command) instead of crashing; `memberapi probe`
refuses an over-long path instead of overflowing its buffer. Tests that restart
the pool leave it running with the stack's configuration."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import apitest  # noqa: E402
from apitest import (ROOT, STACK_DIR, admin, admin_token, check, eq,  # noqa: E402
                     is_error_envelope, stack, test)

BIN = os.environ.get("MEMBERAPI_BIN", os.path.join(ROOT, "build", "src", "memberapi"))
LOG = os.path.join(STACK_DIR, "log", "memberapi.log")


def bearer():
    return {"Authorization": "Bearer " + admin_token()}


def env_without(*keys):
    return {k: v for k, v in os.environ.items() if k not in keys}


def start_pool_without(*keys):
    """Restarts the pool with the stack's environment minus some keys (the
    stack's pool_env lines of those keys are dropped)."""
    drop = "|".join(keys)
    stack('eval "orig_$(declare -f pool_env)"; '
          f"pool_env() {{ orig_pool_env | grep -Ev '^({drop})='; }}; "
          'stop_pid "$RUN/pool.pid" TERM 20; start_pool; wait_ready 60')


def restore_pool():
    apitest.restart_pool(ready=True)


# ---- USER_TOKEN_SECRET missing ------------------------------------------------

@test
def token_command_without_user_token_secret_exits_with_a_message():
    env = env_without("USER_TOKEN_SECRET", "USER_TOKEN_SECRET_FILE", "CONFIG_FILE")
    env["LOG_FILE"] = "-"
    r = subprocess.run([BIN, "token", "7"], env=env, capture_output=True, text=True, timeout=30)
    eq(r.returncode, 1, f"exit status (a negative one is a signal): {r.stderr!r}")
    check("USER_TOKEN_SECRET" in r.stderr, f"the message names the key: {r.stderr!r}")
    eq(r.stdout, "", "no token printed")


@test
def mint_route_without_user_token_secret_answers_503():
    start_pool_without("USER_TOKEN_SECRET", "USER_TOKEN_SECRET_FILE")
    try:
        for _ in range(3):  # every worker answers; none dies
            r = admin("POST", "/internal/v1/users/7/tokens", headers=bearer())
            is_error_envelope(r, 503, "SERVICE_UNAVAILABLE")
            check("USER_TOKEN_SECRET" in r.json["errorMessage"], r.json["errorMessage"])
        with open(LOG, encoding="utf-8", errors="replace") as f:
            tail = f.read()[-200000:]
        check("event=auth_not_configured key=USER_TOKEN_SECRET" in tail,
              "the start logged that member tokens are not configured")
    finally:
        restore_pool()
    r = admin("POST", "/internal/v1/users/7/tokens", headers=bearer())
    eq(r.status, 201, repr(r))
    check(isinstance(r.json["data"]["token"], str) and r.json["data"]["token"], "a token")


# ---- memberapi probe with a long path ----------------------------------------

def pool_env():
    """The pool's environment (the stack's pool.env over ours)."""
    env = dict(os.environ)
    with open(os.path.join(STACK_DIR, "pool.env")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            if k:
                env[k] = v
    env["LOG_FILE"] = "-"
    return env


def probe(path):
    return subprocess.run([BIN, "probe", path], env=pool_env(), capture_output=True, text=True,
                          timeout=30)


@test
def probe_refuses_an_over_long_path_and_sends_long_ones_whole():
    r = probe("/health")
    eq(r.returncode, 0, f"probe /health: {r.stdout!r} {r.stderr!r}")
    r = probe("/" + "a" * 10000)
    eq(r.returncode, 2, f"exit status (a negative one is a signal): {r.stderr!r}")
    check("PATH" in r.stderr and "1024" in r.stderr, f"a clear message: {r.stderr!r}")
    # A path above 127 bytes needs FastCGI's four-byte length: the pool
    # parses the request and answers it (404: no such route), not a crash.
    long_path = "/health/" + "b" * 900
    r = probe(long_path)
    eq(r.returncode, 1, f"{r.stdout!r} {r.stderr!r}")
    eq(r.stdout.strip(), f"probe {pool_env()['LISTEN']} {long_path}: 404")
    eq(probe("/health").returncode, 0, "the pool still answers")
