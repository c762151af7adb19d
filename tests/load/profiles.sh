#!/usr/bin/env bash
# profiles.sh: the profile endpoints' benchmark (issue 3). Through the same
# nginx as the libfcgi hello-world ceiling measured in the same run:
#   - GET /api/v1/profiles/{id} with a cache hit, concurrency 32 and 256
#     (goal: >= 0.7 x hello-world, p99 <= 10 ms at 32, no view lost);
#   - a cached list page, the same;
#   - uncached lists (PROFILE_CACHE=false), every order, one client: page 0
#     and page 50,000 through the cursor (goal: p99 <= 20 ms), and the offset
#     form of page 50,000 (measured, no goal);
#   - Redis stopped: detail at >= 0.5 x the cache-hit figure, zero errors.
# The full run first loads 1,000,000 profiles and 10,000,000 views (seed
# --reset) and puts the default demo data back afterwards (--keep-data keeps
# the big set). --short (CI): the data already loaded, 2 s per case; the
# correctness goals (zero errors, no lost view) are enforced, the speed
# goals reported.
#   tests/load/profiles.sh [--short] [--seconds N] [--rounds N] [--skip-seed] [--keep-data]
# The pool runs with VIEW_DEDUP_WINDOW_S=0 for the run (every view counts:
# this measures raw view throughput, not the repeat-view rule).
# Needs a running stack (scripts/run, or the one scripts/test starts).
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/profiles.py" "$@"
