#!/usr/bin/env bash
# tests/browser/run.sh: the browser tests (tests/browser/run.mjs) against a
# running stack: headless Debian Chromium driven by playwright-core. The
# stack's addresses come from scripts/lib/stack.sh's variables (HTTP_PORT,
# STACK_DIR, STACK_PG_PORT, STACK_SANDBOX_PORT, ...), exactly as the stack
# derives them. Screenshots go to .test-out/browser/. Prints
# "browser: N passed, N failed" last; exits non-zero on any failure.
#   tests/browser/run.sh [NAME_SUBSTRING...]   (default: every test)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
if ! scripts/npm-deps >/dev/null; then
    scripts/npm-deps; echo "browser: 0 passed, 1 failed"; exit 1
fi
if [ ! -x /usr/bin/chromium ]; then
    echo "no /usr/bin/chromium (Debian's chromium; scripts/run installs it)"
    echo "browser: 0 passed, 1 failed"; exit 1
fi
# shellcheck source=../../scripts/lib/stack.sh
. "$ROOT/scripts/lib/stack.sh"
export ROOT STACK_DIR HTTP_PORT ADMIN_PORT DATABASE_URL TOSS_API_BASE STACK_SANDBOX_PORT
exec timeout 300 node "$ROOT/tests/browser/run.mjs" "$@"
