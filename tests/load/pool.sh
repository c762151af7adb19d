#!/usr/bin/env bash
# pool.sh: the worker pool's benchmark. Through the same nginx, with ab and
# keep-alive, at concurrency 32 and 256:
#   - GET /health           (the pool: routing, envelope, logging, metrics)
#   - GET /health.json      (a static file served by nginx itself)
#   - GET /__hello          (a minimal libfcgi hello-world, the ceiling)
# Prints requests/s, p50, p99 and the ratios; the goal is /health >= 0.9 x
# hello-world at both concurrencies with no failed request.
#   tests/load/pool.sh [--short] [--seconds N] [--rounds N]
# Needs a running stack (scripts/run, or the one scripts/test starts).
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/pool.py" "$@"
