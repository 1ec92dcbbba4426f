#!/usr/bin/env bash
# Stats ingestion through the API: ROWS creators' figures sent by
# `upsertCreatorStats` in 1,000-row batches (CLIENTS at once), on
# PostgreSQL and SQLite, each binary given in turn on the same data (the
# first one seeds it); beside PostgreSQL's COPY of the same rows into a
# table of the same shape, in the same run. Rankings served meanwhile: an
# agency's `recommendedCreators(first: 20)` by wrk (c = 2, RANK_S
# seconds) before the ingest and while it runs (from its first second: let
# ROWS make the ingest outlast RANK_S + 1 s), p50 and p99 of each;
# RANK_S=0 ingests alone.
# Loopback only; stops what it starts.
#
#   bench/ingest.sh [OLD/agency-center] target/release/agency-center   (ROWS=1000000 CLIENTS=2 RANK_S=10)
set -u
[ $# -ge 1 ] || { echo "usage: ingest.sh path/to/agency-center [...]" >&2; exit 2; }
ROWS=${ROWS:-200000}
CLIENTS=${CLIENTS:-2}
RANK_S=${RANK_S:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
PG=postgres://postgres@127.0.0.1:5432
DB=ac_bench_ingest
ADDR=127.0.0.1:5091
WORK=$(mktemp -d)
export PGOPTIONS="-c client_min_messages=warning"
export AGENCY_CENTER_JWT_SECRET=bench-secret-0123456789abcdef0123 AGENCY_CENTER_RATE_LIMIT_CAPACITY=0 RUST_LOG=warn
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT

psql -q "$PG/test" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
PGURL=$PG/$DB
SQLURL="sqlite://$WORK/ingest.db?mode=rwc"
for URL in "$PGURL" "$SQLURL"; do
  "$1" migrate --database-url "$URL" >/dev/null
  "$1" seed --database-url "$URL" --creators "$ROWS" --agencies 10 >/dev/null
done
psql -qAt "$PGURL" -c "SELECT id FROM creators" > "$WORK/pg.ids"
python3 -c "
import sqlite3, uuid, sys
for (b,) in sqlite3.connect('$WORK/ingest.db').execute('SELECT id FROM creators'): print(uuid.UUID(bytes=b))
" > "$WORK/sqlite.ids"

# The figures, the same for every run: one CSV line per creator.
python3 - "$WORK/pg.ids" > "$WORK/rows.csv" <<'PY'
import sys, random
random.seed(1)
for i, line in enumerate(open(sys.argv[1])):
    print(f"{line.strip()},{random.randint(0, 5_000_000)},{random.random()*500:.2f},{random.randint(0, 9000)},{random.random()*200:.1f},{random.randint(0, 30)},{random.randint(0, 10**7)},{random.random()*0.5:.4f},{random.random()*0.2:.4f}")
PY
START=$(date +%s.%N)
psql -q "$PGURL" -c "CREATE TEMP TABLE copied (id uuid, followers bigint, avg_viewers float8, peak_viewers bigint, live_hours_30d float8, live_days_30d int, diamonds_30d bigint, follower_growth_30d float8, engagement_rate float8)" -c "\\copy copied FROM '$WORK/rows.csv' CSV" >/dev/null
COPY_S=$(python3 -c "import time; print(time.time() - $START)")
echo "PostgreSQL COPY of $ROWS rows: $(python3 -c "print(f'{$ROWS / $COPY_S:,.0f}')") rows/s (${COPY_S%.*}.x s, connection included)"

ingest() {  # $1 binary, $2 url, $3 ids file
  local TOKEN
  TOKEN=$("$1" token admin bench --database-url "$2" | grep -oE 'eyJ[A-Za-z0-9_.-]+' | tail -1)
  "$1" serve --database-url "$2" --addr "$ADDR" >/dev/null 2>&1 &
  local SERVER=$!
  for _ in $(seq 100); do curl -sf "http://$ADDR/readyz" >/dev/null && break; sleep 0.3; done
  # The ranking's reader: the first agency, with its own token.
  local AGENCY SLUG
  read -r AGENCY SLUG < <(curl -s "http://$ADDR/graphql" -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \
    -d '{"query":"{ agencies(first: 1) { edges { node { id slug } } } }"}' \
    | python3 -c 'import json,sys; a=json.load(sys.stdin)["data"]["agencies"]["edges"][0]["node"]; print(a["id"], a["slug"])')
  rank() { AGENCY_ID=$AGENCY TOKEN=$("$1" token agency "$SLUG" --database-url "$2" | grep -oE 'eyJ[A-Za-z0-9_.-]+' | tail -1) \
    wrk -t1 -c2 -d"${RANK_S}s" --latency -s "$HERE/rank.lua" "http://$ADDR/graphql" | grep '^CSV' \
    | awk -F, '{ printf "p50 %s ms, p99 %s ms (%s answers, %s without 20 edges)", $4, $5, $2, $6 }'; }
  local RANKER=
  if [ "$RANK_S" != 0 ]; then
    echo "ranking before: $(rank "$1" "$2")"
    ( sleep 1; echo "ranking during: $(rank "$1" "$2")" ) &
    RANKER=$!
  fi
  python3 - "$ADDR" "$TOKEN" "$3" "$CLIENTS" <<'PY'
import base64, concurrent.futures, http.client, json, random, sys, time
addr, token, ids_file, clients = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ids = [l.strip() for l in open(ids_file)]
random.seed(1)
def gid(u): return base64.urlsafe_b64encode(f"Creator:{u.replace('-', '')}".encode()).decode().rstrip("=")
batches = [ids[i:i + 1000] for i in range(0, len(ids), 1000)]
q = "mutation($rows: [CreatorStatsInput!]!) { upsertCreatorStats(input: $rows) { updated userErrors { code } } }"
def body(batch):
    return json.dumps({"query": q, "variables": {"rows": [{"creatorId": gid(u), "followers": random.randint(0, 5_000_000), "avgViewers": random.random() * 500, "peakViewers": random.randint(0, 9000), "liveHours30d": random.random() * 200, "liveDays30d": random.randint(0, 30), "diamonds30d": random.randint(0, 10**7), "followerGrowth30d": random.random() * 0.5, "engagementRate": random.random() * 0.2} for u in batch]}})
bodies = [body(b) for b in batches]
def run(part):
    conn = http.client.HTTPConnection(*addr.split(":"))
    written = 0
    for b in part:
        conn.request("POST", "/graphql", b, {"Content-Type": "application/json", "Authorization": "Bearer " + token})
        answer = json.loads(conn.getresponse().read())
        assert "errors" not in answer and not answer["data"]["upsertCreatorStats"]["userErrors"], str(answer)[:300]
        written += answer["data"]["upsertCreatorStats"]["updated"]
    return written
start = time.perf_counter()
with concurrent.futures.ThreadPoolExecutor(clients) as pool:
    written = sum(pool.map(run, [bodies[i::clients] for i in range(clients)]))
took = time.perf_counter() - start
print(f"{written:,} rows in {took:.1f} s: {written / took:,.0f} rows/s")
PY
  [ -n "$RANKER" ] && wait "$RANKER"
  kill $SERVER; wait $SERVER 2>/dev/null
}

for BIN in "$@"; do
  echo "== $BIN, PostgreSQL"; ingest "$BIN" "$PGURL" "$WORK/pg.ids"
  echo "== $BIN, SQLite"; ingest "$BIN" "$SQLURL" "$WORK/sqlite.ids"
done
psql -q "$PG/test" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
