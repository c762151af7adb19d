#!/usr/bin/env bash
# tests/fuzz/run.sh: builds every libFuzzer target (tests/fuzz/fuzz_*.c) with
# clang, ASan and UBSan, and runs each for a bounded time on its seed corpus.
#   tests/fuzz/run.sh [SECONDS_PER_TARGET]      (default 20; CI uses a short run)
# Longer runs: tests/fuzz/run.sh 3600. A crash leaves crash-* files in
# .test-out/fuzz/ and makes the script exit 1.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECS=${1:-20}
OUT=$ROOT/.test-out/fuzz
BUILD=$ROOT/build-fuzz
mkdir -p "$OUT" "$BUILD"

# The project's library, built by clang with the fuzzer's instrumentation.
if [ ! -f "$BUILD/Makefile" ] || [ "$(cat "$BUILD/.configure-args" 2>/dev/null)" != fuzz ]; then
    ( cd "$ROOT" && [ -x configure ] || autoreconf -fi >/dev/null 2>&1 )
    ( cd "$BUILD" && CC=clang CFLAGS="-g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
        "$ROOT/configure" -q ) || { echo "fuzz: configure failed"; exit 1; }
    echo fuzz > "$BUILD/.configure-args"
fi
make -C "$BUILD" -j"$(nproc)" -s libmemberapi.a >/dev/null || { echo "fuzz: build failed"; exit 1; }

LIBS="$(pkg-config --libs fcgi libpq hiredis json-c libcurl libcrypto libjwt) -pthread"
passed=0 failed=0
for src in "$ROOT"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    bin=$BUILD/$name
    clang -g -O1 -std=gnu11 -D_GNU_SOURCE -I"$ROOT/src" -I"$BUILD" $(pkg-config --cflags json-c) \
        -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
        "$src" "$BUILD/libmemberapi.a" $LIBS -o "$bin" || { echo "FAIL $name (build)"; failed=$((failed + 1)); continue; }
    corpus=$OUT/corpus-$name
    mkdir -p "$corpus"
    [ -d "$ROOT/tests/fuzz/corpus/$name" ] && cp -n "$ROOT/tests/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null
    if ( cd "$OUT" && UBSAN_OPTIONS=halt_on_error=1 "$bin" -max_total_time="$SECS" -max_len=4096 \
            -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$OUT/$name-" "$corpus" \
            > "$OUT/$name.log" 2>&1 ); then
        runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$OUT/$name.log" | awk '{print $2}')
        [ -z "$runs" ] && runs=$(grep -oE '#[0-9]+' "$OUT/$name.log" | tail -1 | tr -d '#')
        echo "PASS $name (${SECS}s, ${runs:-?} runs)"
        passed=$((passed + 1))
    else
        echo "FAIL $name: see $OUT/$name.log"
        tail -30 "$OUT/$name.log"
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ $failed = 0 ]
