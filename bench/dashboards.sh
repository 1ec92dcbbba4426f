#!/usr/bin/env bash
# The realistic mix, side by side with PostGraphile on the same data: every
# request is a random agency's own dashboard, with that agency's own token
# (the agency, its 10 newest invitations with their creators and stats, its
# first 10 members with theirs, the counts, its quota), while a writer sends
# invitations, answers them and upserts stats through our API at WRITES
# writes a second. PostGraphile 4 reads the same shape from the same
# PostgreSQL database (its quota as a computed column this script adds);
# its writes go through our PostgreSQL server to that database.
#
# Servers: PostGraphile, ours on PostgreSQL, ours on SQLite (the 1M
# creators / 2,000 agencies databases ../shared/peers/side-by-side.sh
# seeds; seeded here when missing). wrk, c = 32, D seconds after a 3 s
# warm-up, PASSES passes; prints req/s, p99, errors (non-200, `errors`, or
# an empty dashboard) and our kept-answer hit rate, then the ratios to
# PostGraphile. Loopback only, bounded in time; stops what it starts.
#
#   cargo build --release
#   bench/dashboards.sh target/release/agency-center     (WRITES="0 10 100" D=15 PASSES=1)
#
# Installs wrk (Debian package) and postgraphile@4 (npm, into $PEERS_DIR,
# default /opt/peers) when missing.
set -euo pipefail
BIN=$(readlink -f "${1:?usage: dashboards.sh path/to/agency-center}")
HERE=$(cd "$(dirname "$0")" && pwd)
PEERS_DIR=${PEERS_DIR:-/opt/peers}
WRITES=${WRITES:-0 10 100}
D=${D:-15}
PASSES=${PASSES:-1}
C=${C:-32}
PGURL=postgres://postgres@127.0.0.1:5432/ours_1m
SQLITE_FILE=${SQLITE_FILE:-/tmp/ours1m.db}
SQLURL="sqlite://$SQLITE_FILE?mode=rwc"
SECRET=bench-secret-0123456789abcdef0123
export AGENCY_CENTER_JWT_SECRET=$SECRET AGENCY_CENTER_RATE_LIMIT_CAPACITY=0 RUST_LOG=warn
WORK=$(mktemp -d /tmp/dashboards.XXXXXX)

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
PGR=$PEERS_DIR/postgraphile4/node_modules/.bin/postgraphile
if [ ! -x "$PGR" ]; then
  mkdir -p "$PEERS_DIR/postgraphile4"
  (cd "$PEERS_DIR/postgraphile4" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install --no-audit --no-fund postgraphile@4 >/dev/null)
fi
have_pg=$(psql -h 127.0.0.1 -U postgres -XtAc "SELECT 1 FROM pg_database WHERE datname = 'ours_1m'" || true)
if [ "$have_pg" != 1 ] || [ ! -f "$SQLITE_FILE" ]; then
  psql -h 127.0.0.1 -U postgres -qc 'DROP DATABASE IF EXISTS ours_1m' -c 'CREATE DATABASE ours_1m'
  "$BIN" seed --creators 1000000 --agencies 2000 --database-url "$PGURL"
  rm -f "$SQLITE_FILE"*; "$BIN" seed --creators 1000000 --agencies 2000 --database-url "$SQLURL"
fi
"$BIN" migrate --database-url "$PGURL" >/dev/null
"$BIN" migrate --database-url "$SQLURL" >/dev/null
# PostGraphile's quota: the invitations of the rolling 24 hours, as a
# computed column (`usedLast24H`).
psql "$PGURL" -Xq <<'SQL'
CREATE OR REPLACE FUNCTION agencies_used_last_24h(a agencies) RETURNS bigint AS $$
  SELECT count(*) FROM invitations WHERE agency_id = a.id AND created_at > now() - interval '24 hours'
$$ LANGUAGE sql STABLE;
SQL

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
setsid "$PGR" --connection "$PGURL" --schema public --host 127.0.0.1 --port 5056 --max-pool-size 10 \
  --disable-query-log --no-ignore-indexes --disable-default-mutations --cluster-workers 2 \
  >"$WORK/postgraphile.log" 2>&1 </dev/null & pids+=($!)
setsid "$BIN" serve --database-url "$PGURL" --addr 127.0.0.1:5061 >"$WORK/ours-pg.log" 2>&1 </dev/null & pids+=($!)
setsid "$BIN" serve --database-url "$SQLURL" --addr 127.0.0.1:5062 >"$WORK/ours-sqlite.log" 2>&1 </dev/null & pids+=($!)
for port in 5056 5061 5062; do
  for _ in $(seq 1 180); do curl -s -o /dev/null -X POST -H 'content-type: application/json' --data '{"query":"{__typename}"}' "http://127.0.0.1:$port/graphql" && break; sleep 1; done
done

# Per database: every agency (global id, uuid, its own token), 5,000
# discoverable creators for the writer to invite and to send stats for.
psql "$PGURL" -XtAc "SELECT id FROM agencies" | sed '/^$/d' > "$WORK/pg.agencies"
psql "$PGURL" -XtAc "SELECT id FROM creators WHERE discoverable ORDER BY random() LIMIT 5000" | sed '/^$/d' > "$WORK/pg.creators"
python3 - "$SQLITE_FILE" "$WORK" <<'PY'
import sqlite3, sys, uuid
db, work = sys.argv[1:]
con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
as_uuid = lambda raw: str(uuid.UUID(bytes=raw) if isinstance(raw, bytes) else uuid.UUID(raw))
with open(f"{work}/sqlite.agencies", "w") as out:
    for (raw,) in con.execute("SELECT id FROM agencies"): out.write(as_uuid(raw) + "\n")
with open(f"{work}/sqlite.creators", "w") as out:
    for (raw,) in con.execute("SELECT id FROM creators WHERE discoverable ORDER BY random() LIMIT 5000"):
        out.write(as_uuid(raw) + "\n")
PY
# Tokens: HS256 with the servers' secret, as `agency-center token` signs them.
cat > "$WORK/tokens.py" <<'PY'
import base64, hashlib, hmac, json, time
def b64(b): return base64.urlsafe_b64encode(b).decode().rstrip("=")
def token(secret, sub):
    now = int(time.time())
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": sub, "iat": now, "exp": now + 86400}).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"
def gid(kind, u): return b64(f"{kind}:{u.replace('-', '')}".encode())
PY
for db in pg sqlite; do
  python3 - "$WORK" "$db" "$SECRET" <<'PY'
import sys
work, db, secret = sys.argv[1:]
sys.path.insert(0, work)
from tokens import gid, token
with open(f"{work}/{db}.lines", "w") as out:
    for u in open(f"{work}/{db}.agencies").read().split():
        out.write(f"{u} {gid('Agency', u)} {token(secret, 'agency:' + u)}\n")
PY
done

# wrk: a random agency's dashboard per request; an empty one counts as an error.
lua() { # $1 name, $2 lines file, $3 query, $4 id column (1 uuid, 2 global id), $5 bearer (1 or 0), $6 empty marker
  cat > "$WORK/$1.lua" <<EOF
local lines = {}
for l in io.lines("$2") do
  local u, g, t = l:match("(%S+) (%S+) (%S+)")
  lines[#lines + 1] = { u, g, t }
end
math.randomseed(os.time())
local query = '$3'
request = function()
  local a = lines[math.random(#lines)]
  local headers = { ["Content-Type"] = "application/json" }
  if $5 == 1 then headers["Authorization"] = "Bearer " .. a[3] end
  local body = '{"query":"' .. query .. '","variables":{"id":"' .. a[$4] .. '"}}'
  return wrk.format("POST", "/graphql", headers, body)
end
local bad, errs = 0, 0
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
  if string.find(body, '"errors"', 1, true) or string.find(body, '$6', 1, true) then errs = errs + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("CSV,%d,%.1f,%.2f,%.2f,%d,%d\n", summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, bad, errs))
end
EOF
}
OURS='query($id: ID!) { agency(id: $id) { name slug verified capacity memberCount invitationQuota { dailyLimit usedLast24h remaining } invitations(first: 10) { totalCount edges { node { status createdAt creator { handle displayName stats { followers avgViewers } } } } } members(first: 10) { totalCount edges { node { handle displayName stats { followers } } } } } }'
PEER='query($id: UUID!) { agencyById(id: $id) { name slug verified capacity dailyInviteLimit usedLast24H invitationsByAgencyId(first: 10, orderBy: ID_DESC) { totalCount nodes { status createdAt creatorByCreatorId { handle displayName followers avgViewers } } } membershipsByAgencyId(first: 10, orderBy: ID_ASC) { totalCount nodes { creatorByCreatorId { handle displayName followers } } } } }'
lua ours-pg "$WORK/pg.lines" "$OURS" 2 1 '"agency":null'
lua ours-sqlite "$WORK/sqlite.lines" "$OURS" 2 1 '"agency":null'
lua postgraphile "$WORK/pg.lines" "$PEER" 1 0 '"agencyById":null'

# The writer: invitations sent by random agencies, answered by their
# creators (accepted or declined), stats batches of 10 creators, in turn,
# RATE writes a second through one of our servers, until killed.
cat > "$WORK/writer.py" <<'PY'
import json, random, sys, time, urllib.request
work, db, port, rate, secret = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
sys.path.insert(0, work)
from tokens import gid, token
agencies = open(f"{work}/{db}.agencies").read().split()
creators = open(f"{work}/{db}.creators").read().split()
admin = token(secret, "admin:dashboards-writer")
url = f"http://127.0.0.1:{port}/graphql"
def call(tok, query, variables):
    body = json.dumps({"query": query, "variables": variables}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json", "Authorization": "Bearer " + tok})
    return json.load(urllib.request.urlopen(req, timeout=10))
SEND = "mutation($c: ID!) { sendInvitation(input: {creatorId: $c}) { invitation { id } userErrors { code } } }"
ANSWER = "mutation($id: ID!) { %s(id: $id) { userErrors { code } } }"
STATS = "mutation($rows: [CreatorStatsInput!]!) { upsertCreatorStats(input: $rows) { updated } }"
pending, n, due = [], 0, time.monotonic()
while True:
    kind = n % 3
    if kind == 0 or (kind == 1 and not pending):
        c = random.choice(creators)
        r = call(token(secret, "agency:" + random.choice(agencies)), SEND, {"c": gid("Creator", c)})
        inv = ((r.get("data") or {}).get("sendInvitation") or {}).get("invitation")
        if inv: pending.append((inv["id"], c))
    elif kind == 1:
        inv, c = pending.pop(0)
        call(token(secret, "creator:" + c), ANSWER % random.choice(["acceptInvitation", "declineInvitation"]), {"id": inv})
    else:
        rows = [{"creatorId": gid("Creator", c), "followers": random.randint(0, 5_000_000), "avgViewers": random.random() * 500,
                 "peakViewers": random.randint(0, 9000), "liveHours30d": random.random() * 200, "liveDays30d": random.randint(0, 30),
                 "diamonds30d": random.randint(0, 10**7), "followerGrowth30d": random.random() * 0.5,
                 "engagementRate": random.random() * 0.2} for c in random.sample(creators, 10)]
        call(admin, STATS, {"rows": rows})
    n += 1
    due += 1 / rate
    time.sleep(max(0.0, due - time.monotonic()))
PY

kept() { # kept and read answers so far on our server at port $1
  curl -s "http://127.0.0.1:$1/metrics" | awk '/^agency_center_answers_total\{outcome="kept"\}/ {k=$2} /^agency_center_answers_total\{outcome="read"\}/ {r=$2} /^agency_center_answers_total\{outcome="not_kept"\}/ {n=$2} END {printf "%d %d\n", k, r + n}'
}

OUT=$WORK/results.csv
echo "# $(date -Is) $(nproc) cores, c=$C, ${D}s, dashboards of 2,000 agencies, same data" | tee "$OUT"
echo "server,writes_per_s,pass,requests,rps,p50_ms,p99_ms,non200,errors,kept_share" | tee -a "$OUT"
for pass in $(seq 1 "$PASSES"); do
  for rate in $WRITES; do
    for srv in postgraphile:5056:pg:5061 ours-pg:5061:pg:5061 ours-sqlite:5062:sqlite:5062; do
      IFS=: read -r name port db write_port <<<"$srv"
      wpid=
      if [ "$rate" != 0 ]; then
        python3 "$WORK/writer.py" "$WORK" "$db" "$write_port" "$rate" "$SECRET" & wpid=$!
      fi
      url=http://127.0.0.1:$port/graphql
      wrk -t1 -c"$C" -d3s -s "$WORK/$name.lua" "$url" >/dev/null
      share=-
      [ "$name" != postgraphile ] && read -r k0 r0 < <(kept "$port")
      line=$(wrk -t1 -c"$C" -d"${D}s" --latency -s "$WORK/$name.lua" "$url" | grep '^CSV' | cut -d, -f2-)
      if [ "$name" != postgraphile ]; then
        read -r k1 r1 < <(kept "$port")
        share=$(python3 -c "k, r = $k1 - $k0, $r1 - $r0; print(f'{k / max(1, k + r):.2f}')")
      fi
      if [ -n "$wpid" ]; then kill "$wpid" 2>/dev/null || true; wait "$wpid" 2>/dev/null || true; fi
      echo "$name,$rate,$pass,$line,$share" | tee -a "$OUT"
    done
  done
done
python3 - "$OUT" <<'PY'
import collections, csv, statistics, sys
rows = list(csv.DictReader(l for l in open(sys.argv[1]) if not l.startswith('#')))
for r in rows:
    if int(r['non200']) or int(r['errors']):
        print(f"WARNING: {r['server']} at {r['writes_per_s']} writes/s pass {r['pass']}: {r['non200']} non-200 and {r['errors']} error or empty answers of {r['requests']}")
by = collections.defaultdict(list)
for r in rows: by[(r['server'], r['writes_per_s'])].append(r)
for rate in dict.fromkeys(r['writes_per_s'] for r in rows):
    peer = by[('postgraphile', rate)]
    prps = statistics.median(float(r['rps']) for r in peer); pp99 = statistics.median(float(r['p99_ms']) for r in peer)
    parts = [f"postgraphile {prps:.0f} req/s p99 {pp99:.0f} ms"]
    for s in ('ours-pg', 'ours-sqlite'):
        mine = by[(s, rate)]
        rps = statistics.median(float(r['rps']) for r in mine); p99 = statistics.median(float(r['p99_ms']) for r in mine)
        parts.append(f"{s} {rps:.0f} req/s ({rps / prps:.2f}x) p99 {p99:.0f} ms ({p99 / pp99:.2f}x), kept {mine[0]['kept_share']}")
    print(f"{rate} writes/s: " + "; ".join(parts))
PY
