#!/bin/sh
# pool-entrypoint.sh: the pool's FastCGI sockets live in the volume it shares
# with the nginx container only (SOCKET_DIR, /run/memberapi), so nothing else
# can reach the pool: it listens on no network port. Each container names its
# pair of sockets after its host name, so `docker compose up --scale pool=3`
# gives three pairs and nginx-entrypoint turns them into upstream servers.
# The sockets are 0660 of the group memberapi (gid 10001), which nginx's
# workers (www-data) belong to in the nginx image. LISTEN / ADMIN_LISTEN in
# the environment win. Then runs memberapi with the arguments (the health
# check runs `pool-entrypoint probe /health` for the same addresses).
set -eu
dir=${SOCKET_DIR:-/run/memberapi}
host=$(hostname)
LISTEN=${LISTEN:-$dir/$host.sock}
ADMIN_LISTEN=${ADMIN_LISTEN:-$dir/$host-admin.sock}
export LISTEN ADMIN_LISTEN
exec /usr/local/bin/memberapi "$@"
