#!/usr/bin/env bash
# The full load-and-fault run (tests/api/load_fault.rs): two instances on a
# private PostgreSQL cluster (initdb in a temporary folder, its own port),
# 64 clients for 60 s of reads, rankings, sends, accepts and switch-offs,
# the cluster restarted once in the middle; then every acknowledged write is
# checked against the database, the invariants, and both ranking indexes
# against a fresh load. Prints the counts. Loopback only, bounded in time
# and requests. CI runs the same test for 6 s.
#
#   bench/load-and-fault.sh                  (LOAD_SECONDS, LOAD_CONCURRENCY,
#                                             LOAD_MAX_REQUESTS to change)
set -euo pipefail
cd "$(dirname "$0")/.."
# The test runs in the PostgreSQL pass only; it never touches this server.
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
export LOAD_SECONDS=${LOAD_SECONDS:-60} LOAD_CONCURRENCY=${LOAD_CONCURRENCY:-64}
cargo test --release --test api load_fault -- --nocapture 2>&1 | grep -E '^(load-and-fault|checked)|test result|panicked|assert'
