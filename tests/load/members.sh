#!/usr/bin/env bash
# members.sh: the member routes' benchmark (issue 11, items 3 and 5), one
# client, uncached (PROFILE_CACHE=false for the search cases), p50/p99 per case:
#   - GET /api/v1/me/profile-views for one profile with 10,000,000 views
#     (70% by members, spread over 20 monthly partitions): page 1 and page
#     1,000 (size 20, reached through the cursor); goal p99 <= 10 ms both;
#   - GET /api/v1/profiles?q= on 1,000,000 profiles, every order, a common
#     prefix (the "order first" plan) and a rare one ("filter first"): page 0
#     and a cursor page; goal p99 <= 20 ms (the list goal); the EXPLAIN of
#     both plans is printed.
# The full run loads 1,000,000 profiles (seed --reset, no views) and the
# 10,000,000 views, and puts the default demo data back afterwards
# (--keep-data keeps them). --short (CI): the loaded data, 200,000 views,
# 2 s per case; correctness goals (zero errors, pages in order) enforced,
# speed goals reported.
#   tests/load/members.sh [--short] [--seconds N] [--rounds N] [--views N] [--keep-data] [--skip-seed]
# Needs a running stack (scripts/run, or the one scripts/test starts).
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/members.py" "$@"
