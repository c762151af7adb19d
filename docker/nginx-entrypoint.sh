#!/usr/bin/env bash
# nginx-entrypoint.sh: renders nginx/nginx.conf.in exactly as scripts/run does
# (render_nginx in scripts/lib/stack.sh), with the container's listen address
# and the pools as upstreams, then runs nginx in the foreground.
#   POOL_SOCKET_DIR  (default /run/memberapi, the volume shared with the pool
#                    containers): every NAME.sock there is a public upstream
#                    server and every NAME-admin.sock an admin one. After
#                    `docker compose up --scale pool=3`, run
#                    `docker compose exec nginx nginx-entrypoint reload`.
#   POOL_UPSTREAMS   instead, pools on other hosts: a comma list of host:port
#                    (each pool's admin socket is its port + 1).
#   nginx-entrypoint reload   re-renders and reloads a running nginx.
set -euo pipefail
export ROOT=/opt/memberapi STACK_DIR=/var/lib/memberapi
export NGINX_LISTEN_ADDR=${NGINX_LISTEN_ADDR:-0.0.0.0}
export NGINX_ADMIN_ALLOW=${NGINX_ADMIN_ALLOW:-127.0.0.1}
dir=${POOL_SOCKET_DIR:-/run/memberapi}
servers="" admin_servers=""
add() { # public admin
    servers+="        server $1 max_fails=1 fail_timeout=5s;"$'\n'
    admin_servers+="        server $2 max_fails=1 fail_timeout=5s;"$'\n'
}
if [ -n "${POOL_UPSTREAMS:-}" ]; then
    IFS=, read -ra ups <<< "$POOL_UPSTREAMS"
    for u in "${ups[@]}"; do add "$u" "${u%:*}:$((${u##*:} + 1))"; done
else
    for s in "$dir"/*.sock; do
        case $s in *-admin.sock) continue ;; esac
        [ -S "$s" ] && [ -S "${s%.sock}-admin.sock" ] || continue
        add "unix:$s" "unix:${s%.sock}-admin.sock"
    done
    [ -n "$servers" ] || { echo "nginx-entrypoint: no pool socket in $dir" >&2; exit 1; }
fi
export STACK_UPSTREAMS=${servers%$'\n'} STACK_ADMIN_UPSTREAMS=${admin_servers%$'\n'}
. "$ROOT/scripts/lib/stack.sh"
mkdir -p "$STACK_DIR/run" "$STACK_DIR/log"
render_nginx
if [ "${1:-}" = reload ]; then
    exec nginx -p "$STACK_DIR/nginx" -c "$STACK_DIR/nginx/nginx.conf" -s reload
fi
exec nginx -p "$STACK_DIR/nginx" -c "$STACK_DIR/nginx/nginx.conf" -g 'daemon off;'
