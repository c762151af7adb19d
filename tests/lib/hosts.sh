# hosts.sh: the project's own test hosts, made with network namespaces, for
# the horizontal-scaling and fault tests. A private LAN: a bridge in its own
# namespace ("lan"), the root namespace (where nginx runs) at .1, backend
# hosts h1, h2, ... at .11, .12, ... each running a pool that listens on its
# own address, a gateway host at .20 running the sandbox, and (fault suite)
# a host at .30 that is the read replica's network path. No forwarding
# is enabled anywhere; nothing leaves these namespaces. The pools reach
# PostgreSQL and Redis through their unix sockets (the filesystem is shared),
# the way a pool on another machine reaches them over the network.
# Requires root (ip netns). Every process is started and stopped by pid.
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/stack.sh"

NET=${STACK_NET:-10.213.0}            # scripts/test uses another /24
NS=${STACK_NETNS_PREFIX:-m$HTTP_PORT} # unique per stack
LAN=${NS}lan
GW_IP=$NET.20
HOSTS_DIR=$STACK_DIR/hosts

host_ip() { echo "$NET.$((10 + $1))"; }

hosts_up() { # N
    hosts_down 2>/dev/null
    mkdir -p "$HOSTS_DIR"
    ip netns add "$LAN"
    ip -n "$LAN" link add br0 type bridge
    ip -n "$LAN" link set br0 up
    ip link add "${NS}r" type veth peer name "${NS}rb" netns "$LAN"
    ip addr add "$NET.1/24" dev "${NS}r"
    ip link set "${NS}r" up
    ip -n "$LAN" link set "${NS}rb" master br0 up
    local k
    for k in $(seq 1 "$1") gw; do
        if [ "$k" = gw ]; then host_add gw "$GW_IP"; else host_add "$k" "$(host_ip "$k")"; fi
    done
    echo "$1" > "$HOSTS_DIR/count"
}

# host_add NAME IP: a host (namespace ${NS}NAME) on the LAN's bridge.
host_add() {
    local h=${NS}$1
    ip netns add "$h"
    ip -n "$h" link set lo up
    ip link add "${NS}${1}e" netns "$h" type veth peer name "${NS}${1}b" netns "$LAN"
    ip -n "$h" addr add "$2/24" dev "${NS}${1}e"
    ip -n "$h" link set "${NS}${1}e" up
    ip -n "$LAN" link set "${NS}${1}b" master br0 up
}

hosts_down() {
    local n k
    n=$(cat "$HOSTS_DIR/count" 2>/dev/null || echo 0)
    for k in $(seq 1 "$n"); do host_pool_stop "$k"; done
    gw_stop
    replica_host_down
    for k in $(seq 1 "$n") gw; do ip netns del "${NS}$k" 2>/dev/null; done
    ip netns del "$LAN" 2>/dev/null
    ip link del "${NS}r" 2>/dev/null
    rm -f "$HOSTS_DIR/count"
    return 0
}

# host_pool_start K [VAR=value ...]: a pool on host K, port 9000.
host_pool_start() {
    local k=$1; shift
    admin_token
    local env=(
        LISTEN="$(host_ip "$k"):9000"
        PID_FILE="$HOSTS_DIR/pool-h$k.pid" LOG_FILE="$LOGS/memberapi-h$k.log"
        POOL_NAME="h$k"
        DATABASE_URL="postgresql://memberapi@/memberapi?host=$STACK_DIR/pg/sock&port=$STACK_PG_PORT"
        DATABASE_REPLICA_URL="postgresql://memberapi@/memberapi?host=$STACK_DIR/pg/sock&port=$STACK_PG_REPLICA_PORT"
        REDIS_URL="unix://$RUN/redis.sock"
        TOSS_API_BASE="http://$GW_IP:8090"
        ADMIN_TOKEN_FILE="$STACK_DIR/admin_token"
        MEMBER_JWT_SECRET_FILE="$STACK_DIR/member_jwt_secret"
        CURSOR_SECRET_FILE="$STACK_DIR/cursor_secret"
        "$@"
    )
    ip netns exec "${NS}$k" env "${env[@]}" setsid "$MEMBERAPI_BIN" serve \
        >> "$LOGS/memberapi-h$k.log" 2>&1 < /dev/null &
    local i
    for ((i = 0; i < 100; i++)); do
        pid_alive "$HOSTS_DIR/pool-h$k.pid" && ip netns exec "${NS}$k" bash -c \
            "(exec 3<>/dev/tcp/$(host_ip "$k")/9000) 2>/dev/null" && return 0
        sleep 0.1
    done
    die "pool on host $k did not start (see $LOGS/memberapi-h$k.log)"
}

host_pool_stop() { stop_pid "$HOSTS_DIR/pool-h$1.pid" "${2:-TERM}" 20; }

# host_pool_kill K: SIGKILL the master and every worker of host K's pool.
host_pool_kill() {
    local pid
    pid=$(cat "$HOSTS_DIR/pool-h$1.pid" 2>/dev/null) || return 0
    local kids
    kids=$(ps -o pid= --ppid "$pid" 2>/dev/null)
    kill -KILL "$pid" $kids 2>/dev/null
    rm -f "$HOSTS_DIR/pool-h$1.pid"
}

gw_start() {
    mkdir -p "$HOSTS_DIR"
    pid_alive "$HOSTS_DIR/sandbox.pid" && return 0
    ip netns exec "${NS}gw" setsid /usr/bin/python3 "$ROOT/tests/sandbox/gateway_sandbox.py" \
        --allow-any-host --host "$GW_IP" --port 8090 --secret-key "$TOSS_SECRET_KEY" \
        --pid-file "$HOSTS_DIR/sandbox.pid" >> "$LOGS/sandbox-gw.log" 2>&1 < /dev/null &
    local i
    for ((i = 0; i < 100; i++)); do
        (exec 3<>"/dev/tcp/$GW_IP/8090") 2>/dev/null && return 0
        sleep 0.1
    done
    die "sandbox on the gateway host did not start"
}

gw_stop() { stop_pid "$HOSTS_DIR/sandbox.pid" TERM 5; }

# nginx_upstreams "ADDR ADDR ...": points nginx at these backends (none: the
# stack's own pool again); the admin server at their admin sockets (a host
# pool's ADMIN_LISTEN is its LISTEN's port + 1).
nginx_upstreams() {
    local s="" adm="" a
    for a in $1; do
        s+="        server $a max_fails=1 fail_timeout=2s;"$'\n'
        adm+="        server ${a%:*}:$((${a##*:} + 1)) max_fails=1 fail_timeout=2s;"$'\n'
    done
    STACK_UPSTREAMS=${s%$'\n'} STACK_ADMIN_UPSTREAMS=${adm%$'\n'} start_nginx
    sleep 0.5
}

# ---- a path to the replica through a host of its own (fault suite) ----------
# replica_host_up: the LAN (hosts_up 0) and a host "rp" at .30 whose port 5432
# is the read replica (socat to its unix socket: the filesystem is shared).
# A pool given DATABASE_REPLICA_URL=$(replica_host_url) reaches the replica
# over TCP through that host, so replica_blackhole can make the path drop
# every packet (not refuse): what a hung network looks like to the client.
REPLICA_HOST_IP=$NET.30

replica_host_url() { echo "postgresql://memberapi@$REPLICA_HOST_IP:5432/memberapi"; }

replica_host_up() {
    hosts_up 0
    host_add rp "$REPLICA_HOST_IP"
    # setsid: socat and the children it forks per connection are one
    # process group, stopped together by its recorded pid.
    ip netns exec "${NS}rp" setsid socat \
        "TCP-LISTEN:5432,bind=$REPLICA_HOST_IP,fork,reuseaddr,backlog=256" \
        "UNIX-CONNECT:$STACK_DIR/pg/sock/.s.PGSQL.$STACK_PG_REPLICA_PORT" \
        >> "$LOGS/socat-rp.log" 2>&1 < /dev/null &
    echo $! > "$HOSTS_DIR/socat-rp.pid"
    wait_port "$REPLICA_HOST_IP" 5432 10 || die "the replica host does not answer"
}

# replica_blackhole on|off: drop every packet to and from port 5432 of the
# replica host (nftables in its namespace), or stop dropping.
replica_blackhole() {
    local h=${NS}rp
    ip netns exec "$h" nft delete table inet blackhole 2>/dev/null
    [ "$1" = on ] || return 0
    ip netns exec "$h" nft -f - <<NFT
table inet blackhole {
    chain in { type filter hook input priority 0; policy accept; tcp dport 5432 drop; }
    chain out { type filter hook output priority 0; policy accept; tcp sport 5432 drop; }
}
NFT
}

replica_host_down() {
    local pid
    pid=$(cat "$HOSTS_DIR/socat-rp.pid" 2>/dev/null)
    if [ -n "$pid" ]; then
        kill -TERM -- "-$pid" 2>/dev/null
        rm -f "$HOSTS_DIR/socat-rp.pid"
    fi
    ip netns del "${NS}rp" 2>/dev/null
    return 0
}
