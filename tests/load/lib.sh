# lib.sh: shared pieces of the benchmarks under tests/load/.
#
#   hello_start / hello_stop   the libfcgi hello-world ceiling, WORKERS
#                              processes on its own socket, reachable through
#                              the stack's nginx at /__hello
#   bench_extra NAME CONF      add (or remove with "") an nginx location used
#                              only while a benchmark runs
# Figures and ratios are computed by tests/load/benchlib.py.
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/stack.sh"

BENCH_DIR=$STACK_DIR/bench

bench_extra() { # name conf-text
    local f="$STACK_DIR/nginx/extra-public-$1.conf"
    if [ -n "$2" ]; then printf '%s\n' "$2" > "$f"; else rm -f "$f"; fi
    nginx -p "$STACK_DIR/nginx" -c "$STACK_DIR/nginx/nginx.conf" -s reload
    sleep 0.5
}

hello_start() {
    mkdir -p "$BENCH_DIR"
    cc -O2 -o "$BENCH_DIR/hello" "$ROOT/tests/load/hello.c" -lfcgi || die "cannot build hello"
    pid_alive "$BENCH_DIR/hello.pid" && stop_pid "$BENCH_DIR/hello.pid" TERM 5
    setsid "$BENCH_DIR/hello" "$RUN/hello.sock" "$WORKERS" >/dev/null 2>&1 < /dev/null &
    echo $! > "$BENCH_DIR/hello.pid"
    local i
    for ((i = 0; i < 50; i++)); do [ -S "$RUN/hello.sock" ] && break; sleep 0.1; done
    bench_extra hello "location = /__hello { include $ROOT/nginx/fastcgi.conf; fastcgi_pass unix:$RUN/hello.sock; }"
}

hello_stop() {
    bench_extra hello ""
    # The hello master ignores TERM; its process group holds the children.
    if pid_alive "$BENCH_DIR/hello.pid"; then
        kill -TERM -- "-$(cat "$BENCH_DIR/hello.pid")" 2>/dev/null
        sleep 0.2
        kill -KILL -- "-$(cat "$BENCH_DIR/hello.pid")" 2>/dev/null
    fi
    rm -f "$BENCH_DIR/hello.pid" "$RUN/hello.sock"
}
