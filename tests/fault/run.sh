#!/usr/bin/env bash
# tests/fault/run.sh: the fault suite. Each scenario runs a mixed load (detail
# reads that record views, list reads, concurrent point top-ups), injects one
# fault for the middle third of it, then settles payments with the reconciler
# and prints a table: scenario, requests, errors, lost writes, double grants.
#   tests/fault/run.sh [--short] [--seconds N] [--only NAME[,NAME]]
# Needs a running stack (scripts/run, or the one scripts/test starts); the
# pool is restarted with a short gateway timeout for the run, then restored.
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/faults.py" "$@"
