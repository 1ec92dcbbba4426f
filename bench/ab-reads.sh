#!/usr/bin/env bash
# A/B of two server binaries on the dashboard reads (the nested read and the
# point read of ../shared/peers), on SQLite and PostgreSQL, interleaved,
# 2 rounds, wrk c=32 10 s after a 3 s warm-up. Uses the databases
# ../shared/peers/side-by-side.sh seeds (ours_1m, /tmp/ours1m.db) and its id
# list; run that once first. Loopback only, bounded in time.
#
#   bench/ab-reads.sh /path/to/old/agency-center target/release/agency-center
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
WRK_DIR=${WRK_DIR:-$HERE/../../shared/peers/wrk}
PGURL=postgres://postgres@127.0.0.1:5432/ours_1m
SQLURL="sqlite://${SQLITE_FILE:-/tmp/ours1m.db}?mode=rwc"
export AGENCY_CENTER_JWT_SECRET=bench-secret-0123456789abcdef0123 AGENCY_CENTER_RATE_LIMIT_CAPACITY=0 RUST_LOG=warn
export IDS_FILE=${IDS_FILE:-/tmp/side-by-side.ids}
export TOKEN=$("$2" token admin bench --database-url "$PGURL" | grep -oE 'eyJ[A-Za-z0-9_.-]+' | tail -1)
echo "round,binary,database,query,requests,rps,p50_ms,p99_ms,non200,errors"
for round in 1 2; do
  for bin in "$@"; do
    for db in "$SQLURL" "$PGURL"; do
      setsid "$bin" serve --database-url "$db" --addr 127.0.0.1:5099 >/tmp/ab-reads.log 2>&1 </dev/null &
      pid=$!
      for _ in $(seq 1 300); do grep -q listening /tmp/ab-reads.log && break; sleep 0.1; done
      for q in nested creator_by_id; do
        wrk -t1 -c32 -d3s -s "$WRK_DIR/ours_$q.lua" http://127.0.0.1:5099/graphql >/dev/null
        line=$(wrk -t1 -c32 -d10s --latency -s "$WRK_DIR/ours_$q.lua" http://127.0.0.1:5099/graphql | grep '^CSV' | cut -d, -f2-)
        echo "$round,$bin,${db%%:*},$q,$line"
      done
      kill -TERM -- "-$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    done
  done
done
