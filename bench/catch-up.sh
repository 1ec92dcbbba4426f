#!/usr/bin/env bash
# What a change-log catch-up costs a read, on PostgreSQL, in both event
# modes: the median and p99 latency of one client repeating a dashboard
# read (kept answers on; every read first catches up with the log)
#   quiet  — nothing else happening;
#   open   — right after 10,000 log rows, with a transaction left open in
#            another database of the same server (it holds back every
#            snapshot's horizon) for the whole measurement;
#   writes — while pgbench appends 1,000 log rows a second.
# Each binary given is measured in turn, in the same run (before/after).
# Loopback only; about 40 s per binary and mode.
#
#   bench/catch-up.sh target/release/agency-center [another/agency-center]
set -u
[ $# -ge 1 ] || { echo "usage: catch-up.sh path/to/agency-center [...]" >&2; exit 2; }
PG=postgres://postgres@127.0.0.1:5432
DB=ac_bench_catchup
URL=$PG/$DB
ADDR=127.0.0.1:5097
SECONDS_EACH=${SECONDS_EACH:-5}
export PGOPTIONS="-c client_min_messages=warning"
export AGENCY_CENTER_JWT_SECRET=bench-secret-0123456789abcdef0123 AGENCY_CENTER_RATE_LIMIT_CAPACITY=0 RUST_LOG=warn
WRITES=$(mktemp)
echo "INSERT INTO change_log (kind, entity_id, committed_at) VALUES ('bench', gen_random_uuid(), now());" > "$WRITES"
trap 'rm -f "$WRITES"; kill $(jobs -p) 2>/dev/null' EXIT

# p50 and p99 (ms) of one keep-alive client repeating a read for $SECONDS_EACH s.
latency() {
  python3 - "$ADDR" "$TOKEN" "$SECONDS_EACH" <<'PY'
import http.client, json, sys, time
addr, token, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
host, port = addr.split(":")
conn = http.client.HTTPConnection(host, int(port))
body = json.dumps({"query": "query Dashboard { agencies(first: 10) { totalCount edges { node { slug name members(first: 5) { totalCount } } } } }"})
headers = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
times, end = [], time.monotonic() + seconds
while time.monotonic() < end:
    t = time.perf_counter()
    conn.request("POST", "/graphql", body, headers)
    answer = conn.getresponse().read()
    times.append((time.perf_counter() - t) * 1000)
    assert b'"errors"' not in answer, answer[:300]
times.sort()
print(f"p50 {times[len(times)//2]:.2f} ms  p99 {times[int(len(times)*0.99)]:.2f} ms  ({len(times)} reads)")
PY
}

hold_open() {
  PGAPPNAME=bench_hold psql -q "$PG/test" -c "BEGIN; SELECT pg_current_xact_id(); SELECT pg_sleep(600);" >/dev/null 2>&1 &
  sleep 0.5
}
release_hold() {
  psql -q "$PG/test" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'bench_hold'" >/dev/null
}

for BIN in "$@"; do
  for MODE in notify change-log; do
    psql -q "$PG/test" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
    # The same data for every binary: the first one seeds it.
    "$1" migrate --database-url "$URL" >/dev/null
    "$1" seed --database-url "$URL" --creators 2000 --agencies 20 >/dev/null
    TOKEN=$("$BIN" token admin bench --database-url "$URL" | grep -oE 'eyJ[A-Za-z0-9_.-]+' | tail -1)
    "$BIN" serve --database-url "$URL" --addr "$ADDR" --events-via "$MODE" >/dev/null 2>&1 &
    SERVER=$!
    for _ in $(seq 50); do curl -sf "http://$ADDR/readyz" >/dev/null && break; sleep 0.2; done
    latency >/dev/null
    echo "$BIN, --events-via $MODE"
    echo "  quiet:  $(latency)"
    hold_open
    # ANALYZE as autovacuum would after such an insert (this machine's
    # PostgreSQL runs without it; stale statistics plan a sequential scan).
    psql -q "$URL" -c "INSERT INTO change_log (kind, entity_id, committed_at) SELECT 'bench', gen_random_uuid(), now() FROM generate_series(1, 10000)" -c "ANALYZE change_log" >/dev/null
    echo "  open:   $(latency)"
    release_hold
    pgbench -n -R 1000 -c 4 -j 2 -T $((SECONDS_EACH + 2)) -f "$WRITES" "$URL" >/dev/null 2>&1 &
    WRITER=$!
    sleep 1
    echo "  writes: $(latency)"
    wait $WRITER
    kill $SERVER; wait $SERVER 2>/dev/null
  done
done
psql -q "$PG/test" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
