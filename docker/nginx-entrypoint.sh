#!/usr/bin/env bash
# nginx-entrypoint.sh: renders nginx/nginx.conf.in exactly as scripts/run does
# (render_nginx in scripts/lib/stack.sh), with the container's listen address
# and the pool service as upstream, then runs nginx in the foreground.
# POOL_UPSTREAMS: "pool:9000" (every address the name resolves to becomes a
# server: `docker compose up --scale pool=3` then `nginx -s reload`), or a
# comma list of host:port.
set -euo pipefail
export ROOT=/opt/memberapi STACK_DIR=/var/lib/memberapi
export NGINX_LISTEN_ADDR=${NGINX_LISTEN_ADDR:-0.0.0.0}
export NGINX_ADMIN_ALLOW=${NGINX_ADMIN_ALLOW:-127.0.0.1}
servers=""
IFS=, read -ra ups <<< "${POOL_UPSTREAMS:-pool:9000}"
for u in "${ups[@]}"; do servers+="        server $u max_fails=1 fail_timeout=5s;"$'\n'; done
export STACK_UPSTREAMS=${servers%$'\n'}
. "$ROOT/scripts/lib/stack.sh"
mkdir -p "$STACK_DIR/run" "$STACK_DIR/log"
render_nginx
exec nginx -p "$STACK_DIR/nginx" -c "$STACK_DIR/nginx/nginx.conf" -g 'daemon off;'
