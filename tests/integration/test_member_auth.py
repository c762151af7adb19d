"""test_member_auth.py: member JWTs against the running stack (docs/API.md
"Member tokens"): every kind of refused token is 401 with WWW-Authenticate:
Bearer on the member routes and changes nothing (no payment created, no view
recorded with that viewer); RS256 with a public key (an HS256 token keyed
with that public key is refused, minting is off with 503); a bad key file
stops the start naming the key; keys rotate on SIGHUP and a bad reload keeps
the keys in use."""
import hashlib
import hmac
import json
import os
import subprocess
import tempfile
import time

import apitest
from apitest import (MEMBER_AUDIENCE, MEMBER_ISSUER, admin, admin_token, api, b64url, check, eq,
                     is_error_envelope, is_unauthorized, jwt_hs256, member, restart_pool, sql1,
                     test, wait_until)
from paytest import MEMBERAPI_BIN, new_user, order_id


def mint(uid):
    """A token from the admin route, not cached (the keys change in these tests)."""
    r = admin("POST", f"/internal/v1/users/{uid}/tokens",
              headers={"Authorization": "Bearer " + admin_token()})
    eq(r.status, 201, f"mint: {r!r}")
    return r.json["data"]["token"]


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def refused_tokens(uid):
    now = int(time.time())
    std = {"alg": "HS256", "typ": "JWT"}
    good = jwt_hs256(sub=uid)
    head, claims, _ = good.split(".")
    none_head = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    no_exp = {"sub": str(uid), "iat": now}
    if MEMBER_ISSUER:
        no_exp["iss"] = MEMBER_ISSUER
    if MEMBER_AUDIENCE:
        no_exp["aud"] = MEMBER_AUDIENCE
    # the right HMAC-SHA256, but the header says HS384
    h384 = b64url(json.dumps({"alg": "HS384", "typ": "JWT"}).encode())
    mac = hmac.new(apitest.member_secret().encode(), f"{h384}.{claims}".encode(),
                   hashlib.sha256).digest()
    return {
        "alg none": f"{none_head}.{claims}.",
        "alg none with a signature": f"{none_head}.{claims}.{good.split('.')[2]}",
        "another algorithm in the header": f"{h384}.{claims}.{b64url(mac)}",
        "unknown kid": jwt_hs256(header=dict(std, kid="other-key"), sub=uid),
        "sub 0": jwt_hs256(sub=0),
        "negative sub": jwt_hs256(sub=-uid),
        "non-numeric sub": jwt_hs256(sub="alice"),
        "expired": jwt_hs256(sub=uid, iat=now - 7200, exp=now - 3600),
        "not yet valid": jwt_hs256(sub=uid, nbf=now + 3600),
        "issued in the future": jwt_hs256(sub=uid, iat=now + 3600),
        "no exp": jwt_hs256(claims=no_exp),
        "another issuer": jwt_hs256(sub=uid, iss="someone-else"),
        "another audience": jwt_hs256(sub=uid, aud="another-api"),
        "truncated": good[:-3],
        "without signature": f"{head}.{claims}",
        "re-signed with another secret": jwt_hs256(sub=uid, secret="x" * 40),
        "not a JWT": "v1.1.9999999999.abc",
    }


@test
def a_token_built_here_is_accepted():
    # the builder of the refusal tests makes valid tokens (so their 401s are the checks')
    uid = new_user()
    r = api("GET", f"/api/v1/users/{uid}/points", headers=bearer(jwt_hs256(sub=uid)))
    eq(r.status, 200, repr(r))
    r = api("GET", f"/api/v1/users/{uid}/points", headers=bearer(jwt_hs256(sub=str(uid))))
    eq(r.status, 200, repr(r))


@test
def refused_tokens_are_401_everywhere_and_change_nothing():
    uid = new_user()
    pid = int(sql1("SELECT id FROM profiles ORDER BY id LIMIT 1"))
    oids = []
    for name, tok in refused_tokens(uid).items():
        h = bearer(tok)
        for r in (api("GET", f"/api/v1/users/{uid}/points", headers=h),
                  api("GET", f"/api/v1/users/{uid}/points/history", headers=h),
                  api("GET", f"/api/v1/payments/{order_id('x')}", headers=h),
                  api("GET", f"/api/v1/profiles/{pid}", headers=h)):
            try:
                is_unauthorized(r)
            except AssertionError as e:
                raise AssertionError(f"{name}: {e}") from None
        oid = order_id("badtok")
        oids.append(oid)
        r = api("POST", "/api/v1/payments", {"orderId": oid, "userId": uid, "amount": 1000,
                                              "payGateway": "TOSS", "payType": "CARD"}, headers=h)
        is_unauthorized(r)
    eq(sql1("SELECT count(*) FROM payments WHERE order_id IN (%s)"
            % ",".join(f"'{o}'" for o in oids)), "0", "no payment created")
    time.sleep(1.0)  # several view-flush intervals
    viewed = f"SELECT count(*) FROM profile_views WHERE profile_id = {pid} AND viewer_id = {uid}"
    eq(sql1(viewed), "0", "no view recorded with that viewer")
    # the same check sees a view of a valid token (it can fail)
    eq(api("GET", f"/api/v1/profiles/{pid}", headers=member(uid)).status, 200)
    wait_until(lambda: sql1(viewed) == "1", timeout=10, what="the valid token's view")


def openssl(*args, data=None):
    r = subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=60)
    check(r.returncode == 0, f"openssl {args}: {r.stderr[-300:]!r}")
    return r.stdout


def rs256(priv, claims):
    h = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    c = b64url(json.dumps(claims).encode())
    sig = openssl("dgst", "-sha256", "-sign", priv, data=f"{h}.{c}".encode())
    return f"{h}.{c}.{b64url(sig)}"


@test
def rs256_with_a_public_key_refuses_hs256_keyed_with_it():
    uid = new_user()
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        priv, pub = os.path.join(d, "idp.pem"), os.path.join(d, "idp.pub")
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", priv)
        openssl("pkey", "-in", priv, "-pubout", "-out", pub)
        os.chmod(pub, 0o644)
        try:
            restart_pool({"MEMBER_JWT_ALG": "RS256", "MEMBER_JWT_PUBLIC_KEY_FILE": pub},
                         ready=True)
            now = int(time.time())
            claims = {"sub": str(uid), "iat": now, "exp": now + 600}
            if MEMBER_ISSUER:
                claims["iss"] = MEMBER_ISSUER
            if MEMBER_AUDIENCE:
                claims["aud"] = [MEMBER_AUDIENCE, "other"]
            good = rs256(priv, claims)
            eq(api("GET", f"/api/v1/users/{uid}/points", headers=bearer(good)).status, 200)
            pem = open(pub).read()
            for key in (pem, pem.strip()):
                conf = jwt_hs256(claims=claims, secret=key)
                is_unauthorized(api("GET", f"/api/v1/users/{uid}/points", headers=bearer(conf)))
            # the stack's HS256 tokens are not accepted under RS256
            is_unauthorized(api("GET", f"/api/v1/users/{uid}/points",
                                headers=bearer(jwt_hs256(sub=uid))))
            # minting needs a private key this service does not hold
            r = admin("POST", f"/internal/v1/users/{uid}/tokens",
                      headers={"Authorization": "Bearer " + admin_token()})
            is_error_envelope(r, 503, "SERVICE_UNAVAILABLE")
            check("minting" in r.json["errorMessage"], r.json["errorMessage"])
        finally:
            restart_pool(ready=True)


@test
def a_bad_key_file_stops_the_start():
    with tempfile.TemporaryDirectory() as d:
        priv = os.path.join(d, "private.pem")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", priv)
        body = open(priv).read().splitlines()[1]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LOG_FILE": "-",
               "LISTEN": os.path.join(d, "never.sock"), "MEMBER_JWT_ALG": "ES256",
               "MEMBER_JWT_PUBLIC_KEY_FILE": priv}
        r = subprocess.run([MEMBERAPI_BIN, "serve"], env=env, capture_output=True, text=True,
                           timeout=30)
        eq(r.returncode, 1, r.stderr[-300:])
        check("MEMBER_JWT_PUBLIC_KEY_FILE" in r.stderr and priv in r.stderr
              and "not a PEM public key" in r.stderr, r.stderr[-300:])
        check(body not in r.stderr, "the key's content is never printed")
        check(not os.path.exists(env["LISTEN"]), "nothing was started")


def pool_pid():
    return apitest.pid_of("pool")


@test
def keys_rotate_on_sighup_and_a_bad_reload_keeps_them():
    uid = new_user()
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        path = os.path.join(d, "member_jwt_secret")

        def write(secret):
            with open(path, "w") as f:
                f.write(secret + "\n")
            os.chmod(path, 0o644)

        def reload_and_wait(what):
            before = apitest.pool_status()["reloads"]
            os.kill(pool_pid(), 1)  # SIGHUP

            def new_generation_only():
                st = apitest.pool_status()
                return st["reloads"] > before and st["workers"] and all(
                    w["generation"] == st["generation"] for w in st["workers"])

            # every worker of the old generation gone: all answer with the new keys
            wait_until(new_generation_only, 30, what=what)

        def points(tok):
            return api("GET", f"/api/v1/users/{uid}/points", headers=bearer(tok)).status

        write("first-rotation-secret-" + "a" * 20)
        try:
            restart_pool({"MEMBER_JWT_SECRET_FILE": path}, ready=True)
            old = mint(uid)
            eq(points(old), 200)
            write("second-rotation-secret-" + "b" * 20)
            reload_and_wait("the reload")
            # the new generation verifies with the new secret only
            for _ in range(10):
                eq(points(old), 401)
            new = mint(uid)
            for _ in range(10):
                eq(points(new), 200)
            # a bad secret (too short): the reload is refused, the keys in use stay
            write("short")
            pid = pool_pid()
            log = os.path.join(apitest.STACK_DIR, "log", "memberapi.log")
            start = os.path.getsize(log)

            def refusal():
                with open(log) as f:
                    f.seek(start)
                    return [line for line in f if "event=reload_refused" in line]

            os.kill(pid, 1)
            lines = wait_until(refusal, 15, what="reload refused")
            check("MEMBER_JWT_SECRET" in lines[0] and "short" not in lines[0], lines[0])
            eq(points(new), 200)
            eq(pool_pid(), pid, "the pool kept running")
        finally:
            restart_pool(ready=True)
    # tokens of the stack's own secret work again
    eq(api("GET", f"/api/v1/users/{uid}/points", headers=member(uid)).status, 200)
