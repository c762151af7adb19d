#!/usr/bin/env bash
# docker/check.sh: no container engine runs here, so the container files are
# checked statically, with what Debian offers, against the same configuration
# scripts/run uses:
#   - compose.yaml parses and validates (docker-compose config) and lints (yamllint)
#   - every variable given to the pool is a key the binary knows, and every
#     variable of API.md's configuration table is set
#   - the runtime image installs the package of every library the binary
#     links against; the build image's -dev packages are scripts/run's
#   - the Dockerfile is multi-stage, the pool runs as a non-root user with a
#     health check, and no -dev package reaches a runtime stage
#   - nginx's configuration, rendered the way the nginx image renders it, passes nginx -t
#   - the shell scripts pass shellcheck
#   usage: docker/check.sh [path/to/memberapi]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/build/src/memberapi}
D=$ROOT/docker
passed=0 failed=0
ok() { echo "PASS $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

# Throwaway secrets so the file references resolve (git-ignored).
mkdir -p "$D/secrets"
for s in admin_token member_jwt_secret cursor_secret; do
    [ -s "$D/secrets/$s" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$D/secrets/$s"
done

if out=$(cd "$D" && docker-compose -f compose.yaml config -q 2>&1); then ok "compose.yaml validates (docker-compose config)"
else bad "docker-compose config: $out"; fi

if out=$(yamllint -d '{extends: default, rules: {line-length: {max: 120}, document-start: disable, truthy: {check-keys: false}}}' "$D/compose.yaml" 2>&1); then
    ok "compose.yaml lints (yamllint)"; else bad "yamllint: $out"; fi

# Keys the binary knows (check-config prints key=NAME for each).
known=$(env -i PATH="$PATH" MEMBER_JWT_SECRET_FILE="$D/secrets/member_jwt_secret" "$BIN" check-config 2>&1 | sed -n 's/.*event=config key=\([A-Z0-9_]*\) .*/\1/p' | sort -u)
[ -n "$known" ] || bad "cannot list the binary's keys with $BIN check-config"
pool_keys=$(awk '/^x-pool-env:/{f=1; next} f && /^[^ ]/{f=0} f && /^  [A-Z0-9_]+:/{sub(":","",$1); print $1}' "$D/compose.yaml")
unknown=""
for k in $pool_keys; do
    base=${k%_FILE}
    echo "$known" | grep -qx "$k" || { [ "$base" != "$k" ] && echo "$known" | grep -qx "$base"; } || unknown+=" $k"
done
if [ -z "$unknown" ]; then ok "every pool variable in compose.yaml is a key of the binary ($(echo $pool_keys | wc -w))"
else bad "compose.yaml gives the pool unknown keys:$unknown"; fi

missing=""
for k in DATABASE_URL DATABASE_REPLICA_URL REDIS_URL TOSS_API_BASE TOSS_SECRET_KEY PUBLIC_BASE_URL WORKERS; do
    echo "$pool_keys" | grep -qx "$k" || missing+=" $k"
done
echo "$pool_keys" | grep -qE '^ADMIN_TOKEN(_FILE)?$' || missing+=" ADMIN_TOKEN"
for k in HTTP_PORT ADMIN_PORT; do grep -q "^      $k:" "$D/compose.yaml" || missing+=" $k"; done
if [ -z "$missing" ]; then ok "compose.yaml sets every variable of the configuration table"
else bad "compose.yaml does not set:$missing"; fi

# Runtime libraries: the package of every NEEDED library of the binary.
runtime_pkgs=$(awk '/^FROM .* AS runtime/{f=1} /^FROM .* AS nginx/{f=0} f' "$D/Dockerfile" | tr ' \\' '\n\n' | grep -E '^lib[a-z0-9.+-]+$' | sort -u)
miss=""
for lib in $(readelf -d "$BIN" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|x86_64/ {print $NF; exit}')
    pkg=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
    [ -z "$pkg" ] && pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
    case $pkg in libc6) continue ;; esac
    echo "$runtime_pkgs" | grep -qx "$pkg" || miss+=" $lib($pkg)"
done
if [ -z "$miss" ]; then ok "the runtime image installs every library the binary needs"
else bad "the runtime image lacks:$miss"; fi

stack_dev=$(grep -oE 'lib[a-z0-9.+-]+-dev' "$ROOT/scripts/lib/stack.sh" | grep -v 'clang-rt' | sort -u)
build_dev=$(awk '/^FROM .* AS build/{f=1} /^FROM .* AS runtime/{f=0} f' "$D/Dockerfile" | grep -oE 'lib[a-z0-9.+-]+-dev' | sort -u)
if [ "$stack_dev" = "$build_dev" ]; then ok "the build image's -dev packages are scripts/run's"
else bad "-dev packages differ: stack.sh [$(echo $stack_dev)] vs Dockerfile [$(echo $build_dev)]"; fi

stages=$(grep -c '^FROM ' "$D/Dockerfile")
rt=$(awk '/^FROM .* AS runtime/{f=1; next} /^FROM /{f=0} f' "$D/Dockerfile")
if [ "$stages" -ge 2 ] && echo "$rt" | grep -qE '^USER [1-9]' && echo "$rt" | grep -q '^HEALTHCHECK' \
   && ! awk '/^FROM .* AS (runtime|nginx|migrate|sandbox)/{f=1} /^FROM .* AS build/{f=0} f' "$D/Dockerfile" | grep -q -- '-dev'; then
    ok "Dockerfile: $stages stages, non-root pool with a health check, no -dev package at run time"
else bad "Dockerfile: multi-stage / USER / HEALTHCHECK / -dev check failed"; fi

# Only nginx reaches the pool: the runtime image exposes no port and sets no
# TCP LISTEN, the pool service publishes none, and the socket volume is
# mounted by exactly the pool and nginx.
svc_block() { awk -v s="  $1:" '$0 == s {f=1; next} f && /^  [a-z]/ {f=0} f' "$D/compose.yaml"; }
users=$(awk '/^services:/{f=1} /^(secrets|volumes):/{f=0} f && /^  [a-z-]+:$/{svc=$1} f && /fcgi-sockets:/{print svc}' "$D/compose.yaml" | tr -d : | sort -u | tr '\n' ' ')
if ! echo "$rt" | grep -qE '^EXPOSE|LISTEN=[^ ]*:[0-9]' && ! svc_block pool | grep -q 'ports:' \
   && [ "$users" = "nginx pool " ]; then
    ok "the pool listens only on sockets in a volume shared with nginx (no port)"
else bad "the pool is reachable other than from nginx (EXPOSE, ports, TCP LISTEN, or the socket volume is mounted by: $users)"; fi

tmp=$(mktemp -d)
if ( export ROOT STACK_DIR=$tmp NGINX_LISTEN_ADDR=0.0.0.0 HTTP_PORT=8080 ADMIN_PORT=8081 \
        STACK_UPSTREAMS="        server unix:$tmp/pool.sock max_fails=1 fail_timeout=5s;" \
        STACK_ADMIN_UPSTREAMS="        server unix:$tmp/pool-admin.sock max_fails=1 fail_timeout=5s;"
     . "$ROOT/scripts/lib/stack.sh"; mkdir -p "$tmp/run" "$tmp/log"; render_nginx
     nginx -t -q -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g "error_log $tmp/log/e.log;" ) 2>"$tmp/err"; then
    ok "nginx configuration as the nginx image renders it passes nginx -t"
else bad "nginx -t: $(cat "$tmp/err")"; fi
rm -rf "$tmp"

if out=$(shellcheck -S warning "$D"/*.sh "$D"/pg/*.sh "$ROOT"/scripts/run "$ROOT"/scripts/test "$ROOT"/scripts/format \
        "$ROOT"/scripts/npm-deps "$ROOT"/scripts/lint-openapi "$ROOT"/tests/browser/run.sh 2>&1); then
    ok "shellcheck: docker and scripts"; else bad "shellcheck: $out"; fi

echo "docker: $passed passed, $failed failed"
[ $failed = 0 ]
