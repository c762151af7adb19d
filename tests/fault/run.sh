#!/usr/bin/env bash
# tests/fault/run.sh: the fault suite. Each scenario runs a mixed load (detail
# reads that record views, list reads cached and missing the cache, paced
# point top-ups, a /health probe), injects one fault (a crash, a stop, a
# freeze with SIGSTOP, a network black hole, gateway faults...), then settles
# payments with the reconciler and prints a table: scenario, requests,
# errors, p99 of the reads that had another source, longest request, slowest
# /health, time back to normal, lost writes, double grants.
#   tests/fault/run.sh [--short] [--seconds N] [--freeze N] [--only NAME[,NAME]]
# Needs a running stack (scripts/run, or the one scripts/test starts) and
# root (network namespaces); the pool is restarted with the suite's short
# deadlines for the run, then restored. docs/OPERATIONS.md describes it.
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/faults.py" "$@"
