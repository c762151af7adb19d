#!/usr/bin/env bash
# payments.sh: the payment benchmarks against the gateway sandbox:
#   A. create + confirm throughput (no injected fault), through nginx at a
#      benchmark-only location without the payment rate limit;
#   B. the reconciler's rate on UNKNOWN payments (10,000; --short: 500).
#   tests/load/payments.sh [--short] [--payments N] [--concurrency C]
#                          [--unknown M] [--threads T]
# Needs a running stack (scripts/run) with the stack's variables in the
# environment (STACK_DIR, HTTP_PORT, STACK_*); the pool is restarted without its
# periodic reconciler while measuring, then as it was. Figures in docs/PERFORMANCE.md.
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/payments_bench.py" "$@"
