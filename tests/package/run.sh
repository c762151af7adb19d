#!/usr/bin/env bash
# tests/package/run.sh: the Debian package and plain Debian 12, from the
# outside. Builds the .deb (scripts/build-deb: dpkg-buildpackage + lintian),
# runs make distcheck, makes a debootstrapped bookworm image
# (debian-image.sh) and in it:
#   - installs the .deb with apt (its dependencies from Debian's archive),
#   - checks the unit with systemd-analyze verify, the system user, the
#     generated credentials and the logrotate file,
#   - starts the installed binary as its user the way the unit does
#     (credentials in a private directory, socket group www-data) and probes
#     /health (and /ready when DATABASE_URL reaches a database),
#   - installs Debian's nodejs 18 and npm, the project's npm tools with them
#     (scripts/npm-deps) and lints the OpenAPI document; with a running
#     stack (STACK_DIR/admin_token and HTTP_PORT set) also runs the browser
#     tests there, with Debian's chromium, against that stack.
# Prints PASS/FAIL lines and "package: N passed, N failed".
#   tests/package/run.sh        (DEBIAN_IMAGE=DIR reuses or places the image)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/.test-out/package
IMG=${DEBIAN_IMAGE:-$ROOT/.test-out/debian-12}
mkdir -p "$OUT"
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
finish() { echo "package: $pass passed, $fail failed"; [ "$fail" = 0 ]; exit $?; }
# in_img CMD: runs CMD in the image with a clean environment.
in_img() {
    chroot "$IMG" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
        bash -c "$1"
}

t0=$(date +%s)
if "$ROOT/scripts/build-deb" "$OUT/deb" > "$OUT/build-deb.log" 2>&1; then
    ok "scripts/build-deb: $(grep -o 'memberapi_.*KiB)' "$OUT/build-deb.log"), lintian clean ($(( $(date +%s) - t0 )) s)"
else
    tail -20 "$OUT/build-deb.log"; bad "scripts/build-deb"; finish
fi
deb=$(ls "$OUT"/deb/memberapi_*.deb)

# make distcheck: the tarball builds, tests, installs and uninstalls cleanly
# out of tree (in a copy of the committed tree, like build-deb).
t0=$(date +%s)
dist=$OUT/distcheck
rm -rf "$dist"; mkdir -p "$dist/src"
git -C "$ROOT" archive HEAD | tar -x -C "$dist/src"
if ( cd "$dist/src" && autoreconf -fi >/dev/null 2>&1 && mkdir -p _b && cd _b \
       && ../configure -q --enable-werror && make -s -j"$(nproc)" distcheck \
            DISTCHECK_CONFIGURE_FLAGS=--enable-werror ) > "$OUT/distcheck.log" 2>&1; then
    ok "make distcheck: $(grep -o 'memberapi-[0-9.]*\.tar\.gz' "$OUT/distcheck.log" | head -1) ($(( $(date +%s) - t0 )) s)"
else
    tail -20 "$OUT/distcheck.log"; bad "make distcheck"
fi

t0=$(date +%s)
"$ROOT/tests/package/debian-image.sh" "$IMG" || { bad "debootstrap of Debian 12"; finish; }
"$ROOT/tests/package/debian-image.sh" "$IMG" mount
pid_file=$IMG/run/memberapi-test.pid
cleanup() {
    if [ -f "$pid_file" ]; then kill -TERM "$(cat "$pid_file")" 2>/dev/null; rm -f "$pid_file"; fi
    "$ROOT/tests/package/debian-image.sh" "$IMG" umount
}
trap cleanup EXIT

cp "$deb" "$IMG/tmp/"
if in_img "apt-get update -qq && apt-get install -y -qq --no-install-recommends /tmp/$(basename "$deb") systemd logrotate" > "$OUT/install.log" 2>&1; then
    ok "the .deb installs into plain Debian 12 with apt ($(( $(date +%s) - t0 )) s with the image)"
else
    tail -20 "$OUT/install.log"; bad "apt-get install of the .deb"; finish
fi

out=$(in_img "systemd-analyze verify memberapi.service" 2>&1)
if [ -z "$out" ]; then ok "systemd-analyze verify memberapi.service: no complaint"; else
    echo "$out"; bad "systemd-analyze verify"; fi
grep -q '^Type=notify' "$IMG/lib/systemd/system/memberapi.service" \
    && grep -q '^ExecReload=/bin/kill -HUP \$MAINPID' "$IMG/lib/systemd/system/memberapi.service" \
    && grep -q '^LoadCredential=' "$IMG/lib/systemd/system/memberapi.service" \
    && grep -q '^ProtectSystem=strict' "$IMG/lib/systemd/system/memberapi.service" \
    && ok "unit: Type=notify, reload by HUP, credentials, ProtectSystem=strict" || bad "unit directives"

creds=/etc/memberapi/credentials
if in_img "id -u memberapi >/dev/null && [ \"\$(stat -c %a:%U $creds)\" = 700:root ] && for s in admin_token cursor_secret member_jwt_secret; do [ \"\$(stat -c %a $creds/\$s)\" = 600 ] && [ \$(wc -c < $creds/\$s) -ge 33 ] || exit 1; done"; then
    ok "postinst: system user memberapi, secrets generated 0600 in a 0700 root folder"
else bad "postinst user or credentials"; fi
if in_img "logrotate -d /etc/logrotate.d/memberapi" > "$OUT/logrotate.log" 2>&1 \
    && grep -q 'memberapi' "$OUT/logrotate.log"; then ok "logrotate -d accepts /etc/logrotate.d/memberapi"
else cat "$OUT/logrotate.log"; bad "logrotate file"; fi

# The installed binary, started as the unit starts it.
db=${DATABASE_URL:-postgresql://memberapi@127.0.0.1:1/memberapi}
in_img "install -d -o memberapi -g www-data -m 0750 /run/memberapi /run/memberapi-creds
        install -o memberapi -m 0400 $creds/* /run/memberapi-creds/
        cd /
        exec setpriv --reuid=memberapi --regid=www-data --init-groups env -i \
          PATH=/usr/bin:/bin ADMIN_TOKEN_FILE=/run/memberapi-creds/admin_token \
          CURSOR_SECRET_FILE=/run/memberapi-creds/cursor_secret \
          MEMBER_JWT_SECRET_FILE=/run/memberapi-creds/member_jwt_secret \
          DATABASE_URL='$db' DATABASE_REPLICA_URL= REDIS_URL= LOG_FILE=/run/memberapi/pool.log \
          /usr/bin/memberapi -c /etc/memberapi/memberapi.conf serve \
          > /run/memberapi/stdout.log 2>&1 & echo \$! > /run/memberapi-test.pid"
up=0
for _ in $(seq 1 100); do
    if in_img "memberapi -c /etc/memberapi/memberapi.conf probe /health" >/dev/null 2>&1; then up=1; break; fi
    sleep 0.2
done
if [ $up = 1 ]; then
    ok "the installed binary serves /health as user memberapi (socket $(stat -c '%a %G' "$IMG/run/memberapi/memberapi.sock"))"
else
    tail -5 "$IMG/run/memberapi/pool.log" 2>/dev/null; bad "installed binary does not serve /health"
fi
if [ -n "${DATABASE_URL:-}" ]; then
    if in_img "memberapi -c /etc/memberapi/memberapi.conf probe /ready" > "$OUT/ready.log" 2>&1; then
        ok "and /ready with the test stack's database"
    else cat "$OUT/ready.log"; bad "/ready from the installed binary"; fi
fi
if [ $up = 1 ] && [ -f "$pid_file" ]; then
    pid=$(cat "$pid_file"); kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; bad "pool did not stop on SIGTERM"; else ok "pool stops on SIGTERM"; fi
    rm -f "$pid_file"
fi

# Plain Debian 12's Node.js 18 runs the project's npm tools.
t0=$(date +%s)
rm -rf "$IMG/src"; mkdir -p "$IMG/src"
git -C "$ROOT" archive HEAD | tar -x -C "$IMG/src"
# ca-certificates (not in minbase) installs the host's CA copied into the
# image (debian-image.sh), so npm reaches the registry as the host does.
pkgs="ca-certificates nodejs npm"
[ -n "${HTTP_PORT:-}" ] && [ -s "${STACK_DIR:-/nonexistent}/admin_token" ] && pkgs="$pkgs chromium fonts-noto-cjk python3 postgresql-client curl procps"
if in_img "apt-get install -y -qq --no-install-recommends $pkgs && update-ca-certificates" > "$OUT/node.log" 2>&1 \
    && in_img "cd /src && node --version && scripts/npm-deps && scripts/lint-openapi" >> "$OUT/node.log" 2>&1; then
    ok "Debian's $(in_img 'node --version') installs the npm tools and lints docs/openapi.yaml ($(( $(date +%s) - t0 )) s)"
else
    tail -20 "$OUT/node.log"; bad "npm tools under Debian's Node.js 18"
fi
if [[ $pkgs == *chromium* ]]; then
    # what the browser tests read of the stack's state: its admin token, and
    # its member-token key (to forge expired and foreign tokens)
    mkdir -p "$IMG/src/.stack"
    for f in admin_token member_jwt_secret; do
        [ -f "$STACK_DIR/$f" ] && cp "$STACK_DIR/$f" "$IMG/src/.stack/"
    done
    if in_img "cd /src && STACK_DIR=/src/.stack HTTP_PORT=$HTTP_PORT ADMIN_PORT=$ADMIN_PORT \
               STACK_PG_PORT=${STACK_PG_PORT:-} STACK_SANDBOX_PORT=${STACK_SANDBOX_PORT:-} \
               DATABASE_URL='${DATABASE_URL:-}' TOSS_API_BASE='${TOSS_API_BASE:-}' tests/browser/run.sh" \
               > "$OUT/browser.log" 2>&1; then
        ok "browser tests under Debian's Node.js 18 and chromium: $(grep -E 'browser: ' "$OUT/browser.log")"
    else
        grep -E 'FAIL|browser:' "$OUT/browser.log" | head; bad "browser tests under Debian's Node.js 18"
    fi
fi
finish
