#!/usr/bin/env bash
# The nested dashboard read (../shared/peers/wrk/ours_nested.lua, wrk c=32,
# 10 s after a 3 s warm-up) while a writer flips one creator's
# discoverability WRITES times a second through the API (every write drops
# the kept answers), on SQLite and PostgreSQL; prints the read rate and how
# the answers went (kept / read / not_kept from /metrics). Uses the
# databases ../shared/peers/side-by-side.sh seeds; run that once first. The
# creator flipped is left as found. Loopback only, bounded in time.
#
#   bench/reads-under-writes.sh target/release/agency-center        (WRITES="0 10 100")
set -u
BIN=${1:?usage: reads-under-writes.sh path/to/agency-center}
HERE=$(cd "$(dirname "$0")" && pwd)
WRK_DIR=${WRK_DIR:-$HERE/../../shared/peers/wrk}
WRITES=${WRITES:-0 10 100}
PGURL=postgres://postgres@127.0.0.1:5432/ours_1m
SQLURL="sqlite://${SQLITE_FILE:-/tmp/ours1m.db}?mode=rwc"
export AGENCY_CENTER_JWT_SECRET=bench-secret-0123456789abcdef0123 AGENCY_CENTER_RATE_LIMIT_CAPACITY=0 RUST_LOG=warn
export TOKEN=$("$BIN" token admin bench --database-url "$PGURL" | grep -oE 'eyJ[A-Za-z0-9_.-]+' | tail -1)
ADDR=127.0.0.1:5098

# Flips one discoverable creator on and off, $1 times a second, until killed.
writer() {
  exec python3 - "$1" "$2" <<'EOF'
import json, os, sys, time, urllib.request
rate, creator = float(sys.argv[1]), sys.argv[2]
url, token = "http://127.0.0.1:5098/graphql", os.environ["TOKEN"]
q = "mutation($c: ID!, $on: Boolean!) { setDiscoverable(creatorId: $c, discoverable: $on) { creator { discoverable } } }"
on, due = False, time.monotonic()
while True:
    body = json.dumps({"query": q, "variables": {"c": creator, "on": on}}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json", "Authorization": "Bearer " + token})
    urllib.request.urlopen(req, timeout=10).read()
    on = not on
    due += 1 / rate
    time.sleep(max(0.0, due - time.monotonic()))
EOF
}

answers() { curl -s "http://$ADDR/metrics" | grep -E '^agency_center_answers_total' | sed -E 's/.*outcome="([a-z_]+)"} ([0-9]+)/\1=\2/' | tr '\n' ' '; }

echo "database,writes_per_s,requests,rps,p50_ms,p99_ms,non200,errors,answers"
for db in "$SQLURL" "$PGURL"; do
  setsid "$BIN" serve --database-url "$db" --addr "$ADDR" >/tmp/reads-under-writes.log 2>&1 </dev/null &
  pid=$!
  for _ in $(seq 1 300); do grep -q listening /tmp/reads-under-writes.log && break; sleep 0.1; done
  read -r creator was < <(curl -s "http://$ADDR/graphql" -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \
    -d '{"query":"{ agencies(first: 1) { edges { node { invitations(first: 1) { edges { node { creator { id discoverable } } } } } } } }"}' \
    | python3 -c 'import json,sys; c=json.load(sys.stdin)["data"]["agencies"]["edges"][0]["node"]["invitations"]["edges"][0]["node"]["creator"]; print(c["id"], str(c["discoverable"]).lower())')
  for rate in $WRITES; do
    wpid=
    if [ "$rate" != 0 ]; then writer "$rate" "$creator" & wpid=$!; fi
    wrk -t1 -c32 -d3s -s "$WRK_DIR/ours_nested.lua" "http://$ADDR/graphql" >/dev/null
    before=$(answers)
    line=$(wrk -t1 -c32 -d10s --latency -s "$WRK_DIR/ours_nested.lua" "http://$ADDR/graphql" | grep '^CSV' | cut -d, -f2-)
    [ -n "$wpid" ] && kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null
    echo "${db%%:*},$rate,$line,before: $before after: $(answers)"
  done
  curl -s "http://$ADDR/graphql" -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \
    -d "{\"query\":\"mutation { setDiscoverable(creatorId: \\\"$creator\\\", discoverable: $was) { creator { discoverable } } }\"}" >/dev/null
  kill -TERM -- "-$pid" 2>/dev/null; wait "$pid" 2>/dev/null
done
