# stack.sh: the local stack, shared by scripts/run and scripts/test.
#
# Everything the stack keeps lives in $STACK_DIR (default .stack/ in the
# checkout, git-ignored): PostgreSQL primary and streaming replica, Redis,
# the gateway sandbox, the FastCGI pool and nginx, their logs, sockets and
# pid files. Processes are stopped by the pid they recorded, never by name.
# Every variable of API.md's configuration table overrides the default when
# set in the environment; STACK_* variables move the stack's own ports so two
# stacks can run side by side. The default ports are below 32768, outside
# Linux's range for outgoing connections, so a client socket can never hold
# one of them when a service starts.

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
STACK_DIR=${STACK_DIR:-$ROOT/.stack}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
MEMBERAPI_BIN=${MEMBERAPI_BIN:-$BUILD_DIR/src/memberapi}

HTTP_PORT=${HTTP_PORT:-8080}
ADMIN_PORT=${ADMIN_PORT:-8081}
STACK_PG_PORT=${STACK_PG_PORT:-15432}
STACK_PG_REPLICA_PORT=${STACK_PG_REPLICA_PORT:-15433}
STACK_REDIS_PORT=${STACK_REDIS_PORT:-16379}
STACK_SANDBOX_PORT=${STACK_SANDBOX_PORT:-18090}
STACK_NGINX_WORKERS=${STACK_NGINX_WORKERS:-auto}
STACK_PAYMENT_RATE=${STACK_PAYMENT_RATE:-200}
STACK_PAYMENT_BURST=${STACK_PAYMENT_BURST:-400}
# nginx keeps FastCGI connections open only when asked (docs/PERFORMANCE.md).
STACK_FCGI_KEEPALIVE=${STACK_FCGI_KEEPALIVE:-0}

# The stack's own services unless the environment points elsewhere.
OWN_DB=1; [ -n "${DATABASE_URL:-}" ] && OWN_DB=0
OWN_REDIS=1; [ -n "${REDIS_URL+x}" ] && OWN_REDIS=0
OWN_SANDBOX=1; [ -n "${TOSS_API_BASE:-}" ] && OWN_SANDBOX=0
export DATABASE_URL=${DATABASE_URL:-postgresql://memberapi@127.0.0.1:$STACK_PG_PORT/memberapi}
if [ $OWN_DB = 1 ]; then
    export DATABASE_REPLICA_URL=${DATABASE_REPLICA_URL-postgresql://memberapi@127.0.0.1:$STACK_PG_REPLICA_PORT/memberapi}
else
    export DATABASE_REPLICA_URL=${DATABASE_REPLICA_URL-}
fi
export REDIS_URL=${REDIS_URL-redis://127.0.0.1:$STACK_REDIS_PORT/0}
export TOSS_API_BASE=${TOSS_API_BASE:-http://127.0.0.1:$STACK_SANDBOX_PORT}
# The sandbox's test key (a public test key, not a secret).
export TOSS_SECRET_KEY=${TOSS_SECRET_KEY:-test_sk_sandbox_0000000000000000}
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://127.0.0.1:$HTTP_PORT/api/v1/payments}
export WORKERS=${WORKERS:-$(nproc)}
# Member JWTs (docs/API.md "Member tokens"): the environment wins; otherwise
# HS256 with a secret generated into the state folder (pool_env), and this
# issuer and audience (set either to "" to leave it unchecked).
export MEMBER_JWT_ISSUER=${MEMBER_JWT_ISSUER-memberapi-local}
export MEMBER_JWT_AUDIENCE=${MEMBER_JWT_AUDIENCE-memberapi}

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
PG_USER=postgres
PGDATA_PRIMARY=$STACK_DIR/pg/primary
PGDATA_REPLICA=$STACK_DIR/pg/replica
RUN=$STACK_DIR/run
LOGS=$STACK_DIR/log
SOCK=$RUN/memberapi.sock
# The admin routes' socket: only nginx's admin server uses it.
ADMIN_SOCK=$RUN/memberapi-admin.sock

PACKAGES="gcc make dpkg-dev autoconf automake libtool pkg-config libfcgi-dev libpq-dev libhiredis-dev
  libjson-c-dev libcurl4-openssl-dev libssl-dev libjwt-dev libcunit1-dev postgresql postgresql-client
  redis-server redis-tools nginx-light apache2-utils python3 curl procps iproute2 nftables socat clang
  libclang-rt-dev clang-format docker-compose yamllint shellcheck python3-yaml
  nodejs npm chromium fonts-noto-cjk"

say() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ---- packages -------------------------------------------------------------

# pkg_present NAME: installed, or provided by an installed package (a
# Node.js build that bundles npm provides "npm"; installing Debian's npm
# would replace that Node.js).
pkg_present() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' && return 0
    dpkg-query -W -f='${db:Status-Abbrev} ${Provides}\n' 2>/dev/null \
        | awk -v p="$1" '$1 == "ii" { for (i = 2; i <= NF; i++) { sub(/[,(].*/, "", $i); if ($i == p) found = 1 } }
                          END { exit !found }'
}

ensure_packages() {
    local missing=() p
    for p in $PACKAGES; do
        pkg_present "$p" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing: ${missing[*]}"
    [ "$(id -u)" = 0 ] || die "packages missing (${missing[*]}); run as root or install them"
    # Keep package scripts from starting system services (they would listen
    # on public ports); the stack starts its own, on loopback.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e $policy ]; then
        printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy && made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Another apt-get (a second checkout's tests) may hold the lock: wait for it.
    local lock=(-o DPkg::Lock::Timeout=600)
    apt-get "${lock[@]}" update -qq >/dev/null 2>&1 || apt-get "${lock[@]}" update -qq
    apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
        [ $made_policy = 1 ] && rm -f $policy; die "apt-get install failed"; }
    [ $made_policy = 1 ] && rm -f $policy
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    return 0
}

# Security fixes of the libraries the pool links and the servers the stack
# runs: upgraded (within Debian 12) at most once a day per checkout; then the
# libfcgi that fixes CVE-2025-23016 (a heap overflow in FastCGI parameter
# parsing) is required.
UPGRADE_PACKAGES="libfcgi0ldbl libfcgi-dev libpq5 libpq-dev libssl3 libssl-dev libjwt0 libcurl4
  libcurl4-openssl-dev libhiredis0.14 libjson-c5 nginx-light postgresql redis-server"
LIBFCGI_FIXED=2.4.2-2+deb12u1
upgrade_packages() {
    local stamp=$ROOT/.stack-upgraded lock=(-o DPkg::Lock::Timeout=600)
    if [ "$(id -u)" = 0 ] && ! find "$stamp" -mmin -1440 2>/dev/null | grep -q .; then
        local installed=() p
        for p in $UPGRADE_PACKAGES; do
            dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && installed+=("$p")
        done
        export DEBIAN_FRONTEND=noninteractive
        if apt-get "${lock[@]}" update -qq >/dev/null 2>&1 \
            && apt-get "${lock[@]}" install -y -qq --only-upgrade "${installed[@]}" >/dev/null 2>&1; then
            touch "$stamp"
        else
            say "warning: could not upgrade packages (no package registry?); checking versions as installed"
        fi
    fi
    local v
    v=$(dpkg-query -W -f='${Version}' libfcgi0ldbl 2>/dev/null)
    dpkg --compare-versions "${v:-0}" ge "$LIBFCGI_FIXED" \
        || die "libfcgi0ldbl ${v:-missing} has CVE-2025-23016; $LIBFCGI_FIXED or newer is needed (apt-get update && apt-get install libfcgi0ldbl)"
}

# ---- build ----------------------------------------------------------------

# build DIR [configure args...]: out-of-tree autotools build.
# build DIR [CONFIGURE-ARGS...]: configures (when the arguments or flags
# changed) and builds in DIR, with Debian's hardening flags (dpkg-buildflags,
# hardening=+all: PIE, stack protector, RELRO and BIND_NOW, CET, format
# checks, _FORTIFY_SOURCE). The sanitizer build leaves _FORTIFY_SOURCE out:
# ASan's interceptors replace the fortified functions.
build() {
    local dir=$1; shift
    ( cd "$ROOT" && { [ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ]; } \
        || autoreconf -fi >/dev/null 2>&1 ) || die "autoreconf failed"
    mkdir -p "$dir"
    local opts=hardening=+all cflags cppflags ldflags
    case " $* " in *" --enable-sanitizers "*) opts=hardening=+all,-fortify ;; esac
    cflags=$(DEB_BUILD_MAINT_OPTIONS=$opts dpkg-buildflags --get CFLAGS)
    cppflags=$(DEB_BUILD_MAINT_OPTIONS=$opts dpkg-buildflags --get CPPFLAGS)
    ldflags=$(DEB_BUILD_MAINT_OPTIONS=$opts dpkg-buildflags --get LDFLAGS)
    local want="$* | $cflags | $cppflags | $ldflags"
    if [ ! -f "$dir/Makefile" ] || [ "$(cat "$dir/.configure-args" 2>/dev/null)" != "$want" ]; then
        ( cd "$dir" && CFLAGS=$cflags CPPFLAGS=$cppflags LDFLAGS=$ldflags "$ROOT/configure" -q "$@" ) \
            || die "configure failed"
        echo "$want" > "$dir/.configure-args"
    fi
    make -C "$dir" -j"$(nproc)" -s >/dev/null || make -C "$dir" -j1 || die "build failed"
}

# ---- helpers --------------------------------------------------------------

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null; }

# stop_pid FILE SIGNAL TIMEOUT_S: signal the recorded pid, wait, then KILL.
stop_pid() {
    local f=$1 sig=${2:-TERM} t=${3:-15} pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f" 2>/dev/null)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -"$sig" "$pid" 2>/dev/null
        for ((i = 0; i < t * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$f"
}

wait_port() { # host port timeout_s
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        (exec 3<>/dev/tcp/"$1"/"$2") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

as_pg() { runuser -u "$PG_USER" -- "$@"; }

# The postgres and www-data users must reach files inside the checkout.
ensure_traversable() {
    local d=$1 u
    for u in "$PG_USER" www-data; do
        id "$u" >/dev/null 2>&1 || continue
        if ! runuser -u "$u" -- test -x "$d" 2>/dev/null; then
            local p=$d
            while [ "$p" != / ]; do
                runuser -u "$u" -- test -x "$p" 2>/dev/null || chmod o+x "$p"
                p=$(dirname "$p")
            done
            say "note: gave o+x to the folders above $d so that $u can reach the stack"
        fi
    done
}

# ---- PostgreSQL -----------------------------------------------------------

pg_conf() { # datadir port
    cat >> "$1/postgresql.conf" <<CONF
# --- local stack (scripts/lib/stack.sh) ---
listen_addresses = '127.0.0.1'
port = $2
unix_socket_directories = '$STACK_DIR/pg/sock'
max_connections = 400
shared_buffers = 256MB
wal_level = replica
max_wal_senders = 5
max_replication_slots = 5
hot_standby = on
hot_standby_feedback = on
logging_collector = off
log_min_duration_statement = 1000
CONF
}

start_primary() {
    mkdir -p "$STACK_DIR/pg/sock" "$LOGS"
    chown "$PG_USER" "$STACK_DIR/pg" "$STACK_DIR/pg/sock"
    if [ ! -f "$PGDATA_PRIMARY/PG_VERSION" ]; then
        mkdir -p "$PGDATA_PRIMARY" && chown "$PG_USER" "$PGDATA_PRIMARY" && chmod 700 "$PGDATA_PRIMARY"
        as_pg "$PG_BIN/initdb" -D "$PGDATA_PRIMARY" -U postgres --auth=trust -E UTF8 \
            --locale=C.UTF-8 >/dev/null || die "initdb failed"
        pg_conf "$PGDATA_PRIMARY" "$STACK_PG_PORT"
        # Loopback only; trust is for this local stack (see README).
        cat > "$PGDATA_PRIMARY/pg_hba.conf" <<HBA
local all         all                trust
host  all         all  127.0.0.1/32  trust
host  replication all  127.0.0.1/32  trust
HBA
    fi
    touch "$LOGS/pg-primary.log" && chown "$PG_USER" "$LOGS/pg-primary.log"
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_PRIMARY" status >/dev/null 2>&1; then
        as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_PRIMARY" -l "$LOGS/pg-primary.log" -w -t 60 \
            -o "-p $STACK_PG_PORT" start >/dev/null \
            || die "PostgreSQL primary did not start (see $LOGS/pg-primary.log)"
    fi
    local psql_="psql -X -q -h 127.0.0.1 -p $STACK_PG_PORT -U postgres"
    $psql_ -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname='memberapi'" | grep -q 1 \
        || $psql_ -d postgres -c "CREATE ROLE memberapi LOGIN" >/dev/null
    $psql_ -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='memberapi'" | grep -q 1 \
        || $psql_ -d postgres -c "CREATE DATABASE memberapi OWNER memberapi TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'" >/dev/null
    $psql_ -d postgres -tAc "SELECT 1 FROM pg_replication_slots WHERE slot_name='replica1'" | grep -q 1 \
        || $psql_ -d postgres -c "SELECT pg_create_physical_replication_slot('replica1')" >/dev/null
}

start_replica() {
    if [ ! -f "$PGDATA_REPLICA/PG_VERSION" ]; then
        rm -rf "$PGDATA_REPLICA"
        mkdir -p "$PGDATA_REPLICA" && chown "$PG_USER" "$PGDATA_REPLICA" && chmod 700 "$PGDATA_REPLICA"
        as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$STACK_PG_PORT" -U postgres \
            -D "$PGDATA_REPLICA" -R -X stream -S replica1 --checkpoint=fast >/dev/null \
            || die "pg_basebackup failed"
        echo "port = $STACK_PG_REPLICA_PORT" >> "$PGDATA_REPLICA/postgresql.auto.conf"
    fi
    touch "$LOGS/pg-replica.log" && chown "$PG_USER" "$LOGS/pg-replica.log"
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_REPLICA" status >/dev/null 2>&1; then
        # The ports come from the environment at every start (not only at
        # creation), so STACK_PG_PORT / STACK_PG_REPLICA_PORT can move a stack.
        as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_REPLICA" -l "$LOGS/pg-replica.log" -w -t 60 \
            -o "-p $STACK_PG_REPLICA_PORT -c primary_conninfo='host=127.0.0.1 port=$STACK_PG_PORT user=postgres application_name=replica1'" \
            start >/dev/null \
            || die "PostgreSQL replica did not start (see $LOGS/pg-replica.log)"
    fi
}

stop_pg() { # datadir
    [ -f "$1/postmaster.pid" ] || return 0
    as_pg "$PG_BIN/pg_ctl" -D "$1" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# ---- Redis, sandbox, pool, nginx ------------------------------------------

start_redis() {
    mkdir -p "$STACK_DIR/redis" "$RUN" "$LOGS"
    pid_alive "$RUN/redis.pid" && return 0
    cat > "$STACK_DIR/redis/redis.conf" <<CONF
# Redis is only a cache: no persistence, bounded memory.
bind 127.0.0.1
protected-mode yes
port $STACK_REDIS_PORT
unixsocket $RUN/redis.sock
unixsocketperm 700
daemonize yes
pidfile $RUN/redis.pid
logfile $LOGS/redis.log
dir $STACK_DIR/redis
save ""
appendonly no
maxmemory 256mb
maxmemory-policy allkeys-lru
CONF
    redis-server "$STACK_DIR/redis/redis.conf" || die "redis did not start"
    wait_port 127.0.0.1 "$STACK_REDIS_PORT" 10 || die "redis is not answering"
}

start_sandbox() {
    mkdir -p "$RUN" "$LOGS"
    pid_alive "$RUN/sandbox.pid" && return 0
    setsid /usr/bin/python3 "$ROOT/tests/sandbox/gateway_sandbox.py" --host 127.0.0.1 \
        --port "$STACK_SANDBOX_PORT" --secret-key "$TOSS_SECRET_KEY" \
        --pid-file "$RUN/sandbox.pid" >> "$LOGS/sandbox.log" 2>&1 < /dev/null &
    wait_port 127.0.0.1 "$STACK_SANDBOX_PORT" 15 || die "gateway sandbox did not start (see $LOGS/sandbox.log)"
}

# secret_file NAME: a random secret kept in the stack folder.
secret_file() {
    if [ ! -s "$STACK_DIR/$1" ]; then
        head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$STACK_DIR/$1"
        echo >> "$STACK_DIR/$1"
    fi
    chmod 600 "$STACK_DIR/$1"
}

admin_token() {
    secret_file member_jwt_secret
    secret_file cursor_secret
    if [ -n "${ADMIN_TOKEN:-}" ]; then
        printf '%s\n' "$ADMIN_TOKEN" > "$STACK_DIR/admin_token"
    elif [ ! -s "$STACK_DIR/admin_token" ]; then
        head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$STACK_DIR/admin_token"
        echo >> "$STACK_DIR/admin_token"
    fi
    chmod 600 "$STACK_DIR/admin_token"
}

# The user nginx's workers run as: www-data when run as root and www-data
# can read the checkout, root when it cannot, else the caller (no user line).
nginx_user() {
    [ "$(id -u)" = 0 ] || return 0
    if id www-data >/dev/null 2>&1 && runuser -u www-data -- test -r "$ROOT/nginx/html/health.json" 2>/dev/null; then
        echo www-data
    else
        echo root
    fi
}

# The pool's environment: the configuration table plus the stack's paths.
# The sockets are 0660, of nginx's group: nothing else on the machine may
# connect to them (a pool run by the same user as nginx needs no group).
pool_env() {
    local group=""
    [ "$(nginx_user)" = www-data ] && group=$(id -gn www-data)
    cat <<ENV
LISTEN=$SOCK
ADMIN_LISTEN=$ADMIN_SOCK
SOCKET_MODE=0660
SOCKET_GROUP=$group
PID_FILE=$RUN/pool.pid
LOG_FILE=$LOGS/memberapi.log
ADMIN_TOKEN_FILE=$STACK_DIR/admin_token
CURSOR_SECRET_FILE=$STACK_DIR/cursor_secret
ENV
    # The generated HS256 secret, unless the environment brings its own
    # secret or a public key (RS256/ES256).
    if [ -z "${MEMBER_JWT_SECRET:-}${MEMBER_JWT_SECRET_FILE:-}${MEMBER_JWT_PUBLIC_KEY_FILE:-}" ]; then
        echo "MEMBER_JWT_SECRET_FILE=$STACK_DIR/member_jwt_secret"
    fi
}

start_pool() {
    mkdir -p "$RUN" "$LOGS"
    pid_alive "$RUN/pool.pid" && return 0
    admin_token
    pool_env > "$STACK_DIR/pool.env"
    ( set -a; . "$STACK_DIR/pool.env"; set +a
      exec setsid "$MEMBERAPI_BIN" serve >> "$LOGS/memberapi.log" 2>&1 < /dev/null ) &
    local i
    for ((i = 0; i < 100; i++)); do
        [ -S "$SOCK" ] && [ -S "$ADMIN_SOCK" ] && pid_alive "$RUN/pool.pid" && return 0
        sleep 0.1
    done
    tail -5 "$LOGS/memberapi.log" >&2
    die "the pool did not start (see $LOGS/memberapi.log)"
}

render_nginx() {
    mkdir -p "$STACK_DIR/nginx/tmp" "$LOGS" "$RUN"
    local user_line="" servers admin_servers keepalive="" keepconn="fastcgi_keep_conn off;" nuser
    nuser=$(nginx_user)
    if [ -n "$nuser" ]; then
        user_line="user $nuser;"
        [ "$nuser" = www-data ] && chown -R www-data "$STACK_DIR/nginx/tmp"
    fi
    servers=${STACK_UPSTREAMS:-"        server unix:$SOCK;"}
    admin_servers=${STACK_ADMIN_UPSTREAMS:-"        server unix:$ADMIN_SOCK;"}
    if [ "$STACK_FCGI_KEEPALIVE" != 0 ]; then
        # nginx must drop an idle kept connection before the pool does
        # (FCGI_READ_TIMEOUT_MS), or it may send a request on a connection
        # the pool is closing.
        local idle_s=$(( ${FCGI_READ_TIMEOUT_MS:-5000} / 1000 - 1 ))
        [ "$idle_s" -lt 1 ] && idle_s=1
        keepalive="        keepalive $STACK_FCGI_KEEPALIVE;"$'\n'"        keepalive_timeout ${idle_s}s;"
        keepconn="fastcgi_keep_conn on;"
    fi
    local max_body=${MAX_BODY_BYTES:-65536}
    # Trusted proxies: the only peers whose X-Forwarded-For nginx believes.
    local realip="" p proxies=${NGINX_TRUSTED_PROXIES:-}
    for p in ${proxies//,/ }; do
        [[ $p =~ ^[0-9A-Fa-f.:]+(/[0-9]{1,3})?$ ]] || die "NGINX_TRUSTED_PROXIES: '$p' is not an address or CIDR"
        realip+="    set_real_ip_from $p;"$'\n'
    done
    if [ -n "$realip" ]; then
        realip+="    real_ip_header X-Forwarded-For;"$'\n'"    real_ip_recursive on;"
    else
        realip="    # NGINX_TRUSTED_PROXIES is empty: X-Forwarded-For is ignored."
    fi
    # As many descriptors as the hard limit allows (nginx cannot go past it).
    local nofile
    nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=65536
    [ "$nofile" -gt 65536 ] && nofile=65536
    sed -e "s|@NGINX_USER_LINE@|$user_line|" \
        -e "s|@NGINX_WORKERS@|$STACK_NGINX_WORKERS|" \
        -e "s|@STACK_DIR@|$STACK_DIR|g" -e "s|@ROOT@|$ROOT|g" \
        -e "s|@HTTP_PORT@|$HTTP_PORT|g" -e "s|@ADMIN_PORT@|$ADMIN_PORT|g" \
        -e "s|@LISTEN_ADDR@|${NGINX_LISTEN_ADDR:-127.0.0.1}|g" \
        -e "s|@ADMIN_ALLOW@|${NGINX_ADMIN_ALLOW:-127.0.0.1}|g" \
        -e "s|@MAX_BODY@|$max_body|g" -e "s|@NOFILE@|$nofile|" \
        -e "s|@PAYMENT_RATE@|$STACK_PAYMENT_RATE|" -e "s|@PAYMENT_BURST@|$STACK_PAYMENT_BURST|" \
        -e "s|@FASTCGI_KEEP_CONN@|$keepconn|" \
        "$ROOT/nginx/nginx.conf.in" \
        | awk -v s="$servers" -v a="$admin_servers" -v k="$keepalive" -v r="$realip" '
            $0 == "@UPSTREAM_SERVERS@" { print s; next }
            $0 == "@ADMIN_UPSTREAM_SERVERS@" { print a; next }
            $0 == "@UPSTREAM_KEEPALIVE@" { print k; next }
            $0 == "@REAL_IP@" { print r; next }
            { print }' \
        > "$STACK_DIR/nginx/nginx.conf"
    frontend_config
}

# The web front end's configuration, served by nginx at /config.json: where
# a browser finds the gateway's checkout page (the sandbox's /sim/checkout).
# FRONTEND_GATEWAY_BASE overrides TOSS_API_BASE when the browser must reach
# the gateway under another address than the pool does (containers).
frontend_config() {
    local base=${FRONTEND_GATEWAY_BASE:-$TOSS_API_BASE}
    base=${base%/}
    [[ $base =~ ^https?://[^/\"\\[:space:]]+$ ]] \
        || die "FRONTEND_GATEWAY_BASE / TOSS_API_BASE must be http(s)://host[:port], not '$base'"
    printf '{"gatewayBase":"%s","checkoutPath":"/sim/checkout","gateway":"toss"}\n' "$base" \
        > "$STACK_DIR/nginx/config.json"
}

# Demo members for the web front end's "데모 회원으로 로그인" (README "The web
# front end"): member JWTs for STACK_DEMO_MEMBERS (user ids; empty: none),
# minted at start by `memberapi token` with the pool's own configuration, and
# their names, in $STACK_DIR/nginx/demo-members.json, which nginx serves at
# /demo-members.json. Only the local stack writes it, and only while the
# public listener is on loopback: anyone who can read the file can act as
# those members. Without it (production, the containers, RS256/ES256 where
# this service cannot mint) the front end offers only its paste-a-token form.
STACK_DEMO_MEMBERS=${STACK_DEMO_MEMBERS-1 2 3 4 5}
demo_members() {
    local file=$STACK_DIR/nginx/demo-members.json
    mkdir -p "$STACK_DIR/nginx"
    rm -f "$file"
    [ -n "$STACK_DEMO_MEMBERS" ] || return 0
    case ${NGINX_LISTEN_ADDR:-127.0.0.1} in
        127.*|localhost|::1) ;;
        *) say "note: no demo members: the public listener is not loopback"; return 0 ;;
    esac
    local id ids="" lines="" name tok
    for id in ${STACK_DEMO_MEMBERS//,/ }; do
        [[ $id =~ ^[1-9][0-9]{0,17}$ ]] || die "STACK_DEMO_MEMBERS: '$id' is not a user id"
        ids+="${ids:+,}$id"
    done
    # the names as the database has them, as JSON strings (a member that does
    # not exist is left out)
    while IFS=$'\t' read -r id name; do
        [ -n "$id" ] || continue
        tok=$( (set -a; . "$STACK_DIR/pool.env"; set +a; exec "$MEMBERAPI_BIN" token "$id") 2>/dev/null ) || {
            say "note: no demo members: this configuration cannot mint member tokens"; return 0; }
        lines+="$id"$'\t'"$name"$'\t'"$tok"$'\n'
    done < <(psql "$DATABASE_URL" -X -q -At -F $'\t' -v ON_ERROR_STOP=1 \
                 -c "SELECT id, to_json(name) FROM users WHERE id IN ($ids) ORDER BY id" 2>/dev/null)
    [ -n "$lines" ] || return 0
    if printf '%s' "$lines" | /usr/bin/python3 -c '
import json, sys
members = []
for line in sys.stdin.read().splitlines():
    uid, name, token = line.split("\t")
    members.append({"userId": int(uid), "name": json.loads(name), "token": token})
print(json.dumps({"members": members}, ensure_ascii=False))' > "$file.tmp"; then
        chmod 644 "$file.tmp" && mv "$file.tmp" "$file"
    else
        rm -f "$file.tmp"
        say "note: no demo members: writing $file failed"
    fi
}

start_nginx() {
    render_nginx
    if pid_alive "$RUN/nginx.pid"; then
        nginx -p "$STACK_DIR/nginx" -c "$STACK_DIR/nginx/nginx.conf" -s reload 2>>"$LOGS/nginx-error.log"
        return 0
    fi
    nginx -t -q -p "$STACK_DIR/nginx" -c "$STACK_DIR/nginx/nginx.conf" -g "error_log $LOGS/nginx-error.log;" \
        || die "nginx configuration is invalid"
    nginx -p "$STACK_DIR/nginx" -c "$STACK_DIR/nginx/nginx.conf" -g "error_log $LOGS/nginx-error.log;" \
        || die "nginx did not start"
    wait_port 127.0.0.1 "$HTTP_PORT" 10 || die "nginx is not answering on $HTTP_PORT"
}

# ---- the whole stack ------------------------------------------------------

migrate_and_seed() {
    DATABASE_URL=$DATABASE_URL "$ROOT/db/migrate.sh" >/dev/null || die "migrations failed"
    /usr/bin/python3 "$ROOT/db/seed.py" --database-url "$DATABASE_URL" ${SEED_ARGS:-} \
        || die "demo data failed"
}

wait_ready() { # timeout_s
    local i body
    for ((i = 0; i < $1 * 5; i++)); do
        body=$(curl -s -m 2 "http://127.0.0.1:$HTTP_PORT/ready" 2>/dev/null || true)
        if echo "$body" | grep -q '"status":"UP","components"' \
           && ! echo "$body" | grep -q '"status":"DOWN"'; then
            return 0
        fi
        sleep 0.2
    done
    say "last /ready answer: $body" >&2
    return 1
}

stack_start() {
    mkdir -p "$STACK_DIR" "$RUN" "$LOGS"
    ensure_traversable "$STACK_DIR"
    if [ $OWN_DB = 1 ]; then start_primary; fi
    migrate_and_seed
    if [ $OWN_DB = 1 ] && [ -n "$DATABASE_REPLICA_URL" ]; then start_replica; fi
    if [ $OWN_REDIS = 1 ]; then start_redis; fi
    if [ $OWN_SANDBOX = 1 ]; then start_sandbox; fi
    start_pool
    demo_members
    start_nginx
    wait_ready 60 || die "/ready did not answer 200 with every component UP"
}

stack_stop() {
    if pid_alive "$RUN/nginx.pid"; then
        stop_pid "$RUN/nginx.pid" QUIT 10
    fi
    stop_pid "$RUN/pool.pid" TERM 20
    stop_pid "$RUN/sandbox.pid" TERM 5
    stop_pid "$RUN/redis.pid" TERM 10
    stop_pg "$PGDATA_REPLICA"
    stop_pg "$PGDATA_PRIMARY"
}

stack_status() {
    local rc=0
    part() { # name ok detail
        if [ "$2" = 0 ]; then printf '  %-10s up    %s\n' "$1" "$3"; else printf '  %-10s DOWN  %s\n' "$1" "$3"; rc=1; fi
    }
    say "stack in $STACK_DIR"
    if [ $OWN_DB = 1 ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_PRIMARY" status >/dev/null 2>&1; part primary $? "127.0.0.1:$STACK_PG_PORT"
        as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_REPLICA" status >/dev/null 2>&1; part replica $? "127.0.0.1:$STACK_PG_REPLICA_PORT"
    else
        say "  database  external ($DATABASE_URL)"
    fi
    if [ $OWN_REDIS = 1 ]; then pid_alive "$RUN/redis.pid"; part redis $? "127.0.0.1:$STACK_REDIS_PORT"; fi
    if [ $OWN_SANDBOX = 1 ]; then pid_alive "$RUN/sandbox.pid"; part sandbox $? "$TOSS_API_BASE"; fi
    pid_alive "$RUN/pool.pid"; part pool $? "$SOCK ($WORKERS workers)"
    pid_alive "$RUN/nginx.pid"; part nginx $? "http://127.0.0.1:$HTTP_PORT  admin http://127.0.0.1:$ADMIN_PORT"
    local ready
    ready=$(curl -s -m 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/ready" 2>/dev/null)
    part ready "$([ "$ready" = 200 ] && echo 0 || echo 1)" "GET /ready -> ${ready:-no answer}"
    return $rc
}
