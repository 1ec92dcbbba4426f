#!/usr/bin/env bash
# The review's hostile requests against a release binary, each binary given
# in turn (before/after), on a scratch SQLite database, loopback only:
#   memory   — 36 anonymous POSTs of distinct 900 KB queries, then 36 of
#              95 KB, all too costly: the server's RSS before and after;
#   bucket   — 40 costly queries at once with one token (rate limiting on:
#              10,000 points, 500/s): points admitted;
#   names    — 5 queries with 90 KB operation names: /metrics size;
#   aliases  — 2,400 aliases of invitationEligibility sharing 100 ids:
#              priced, and how long the answer took;
#   chain    — `query { ...F0 }` with 4,000 fragments in a chain (146 KB),
#              last: it aborted the server.
#
#   bench/hostile.sh target/release/agency-center [another/agency-center]
set -u
[ $# -ge 1 ] || { echo "usage: hostile.sh path/to/agency-center [...]" >&2; exit 2; }
ADDR=127.0.0.1:5096
export AGENCY_CENTER_JWT_SECRET=bench-secret-0123456789abcdef0123 RUST_LOG=error
DIR=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$DIR"' EXIT

for BIN in "$@"; do
  URL="sqlite://$DIR/$(date +%s%N).db?mode=rwc"
  "$BIN" migrate --database-url "$URL" >/dev/null
  "$BIN" seed --database-url "$URL" --creators 2000 --agencies 120 >/dev/null
  ADMIN=$("$BIN" token admin bench --database-url "$URL" | grep -oE 'eyJ[A-Za-z0-9_.-]+' | tail -1)
  "$BIN" serve --database-url "$URL" --addr "$ADDR" >/dev/null 2>&1 &
  SERVER=$!
  for _ in $(seq 50); do curl -sf "http://$ADDR/readyz" >/dev/null && break; sleep 0.2; done
  echo "$BIN"
  python3 - "$ADDR" "$ADMIN" "$SERVER" "$BIN" "$URL" <<'PY'
import concurrent.futures, json, re, subprocess, sys, time, urllib.request, urllib.error
addr, admin, pid, binary, url = sys.argv[1:6]
def post(body, token=None, timeout=120):
    headers = {"Content-Type": "application/json"}
    if token: headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(f"http://{addr}/graphql", json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r: return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e: return e.code, json.loads(e.read() or b"{}")
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1]) // 1024
def alive():
    try: return post({"query": "{ __typename }"})[0] == 200
    except Exception: return False
def code(answer): return ((answer.get("errors") or [{}])[0].get("extensions") or {}).get("code", "ok")

before = rss()
for size, count in ((900_000, 36), (95_000, 36)):
    for n in range(count):
        q, i = f"query Q{size}_{n} {{ ", 0
        parts = []
        while len(q) + sum(map(len, parts)) < size:
            parts.append(f"a{i}: agencies {{ totalCount }} "); i += 1
        post({"query": q + "".join(parts) + "}"})
print(f"  memory:  RSS {before} MiB -> {rss()} MiB after 36 x 900 KB and 36 x 95 KB distinct refused queries")

pages = " ".join(f"p{i}: agencies(first: 100) {{ edges {{ node {{ slug name }} }} }}" for i in range(10))
with concurrent.futures.ThreadPoolExecutor(40) as pool:
    answers = list(pool.map(lambda _: post({"query": "{ " + pages + " }"}, admin), range(40)))
ran = [a for s, a in answers if s == 200 and "errors" not in a]
requested = sum(a["extensions"]["cost"]["requestedQueryCost"] for a in ran)
actual = sum(a["extensions"]["cost"]["actualQueryCost"] for a in ran)
print(f"  bucket:  {len(ran)} of 40 admitted at once: {requested} points requested, {actual} answered (bucket 10,000)")

m0 = len(urllib.request.urlopen(f"http://{addr}/metrics").read())
for n in range(5): post({"query": f"query N{n}{'x' * 90_000} {{ __typename }}"})
m1 = len(urllib.request.urlopen(f"http://{addr}/metrics").read())
print(f"  names:   /metrics {m0} -> {m1} bytes after 5 queries named with 90 KB")

first = post({"query": "{ agencies(first: 1) { edges { node { id slug } } } }"}, admin)[1]
agency = first["data"]["agencies"]["edges"][0]["node"]
printed = subprocess.run([binary, "token", "agency", agency["slug"], "--database-url", url], capture_output=True, text=True).stdout
token = re.findall(r"eyJ[A-Za-z0-9_.-]+", printed)[-1]
ranked = post({"query": "query($a: ID!) { recommendedCreators(agencyId: $a, first: 100) { edges { node { id } } } }", "variables": {"a": agency["id"]}}, token)[1]
ids = [e["node"]["id"] for e in ranked["data"]["recommendedCreators"]["edges"]]
aliases = " ".join(f"e{i}: invitationEligibility(agencyId: $a, creatorIds: $ids) {{ invitable }}" for i in range(2400))
started = time.monotonic()
status, answer = post({"query": f"query($a: ID!, $ids: [ID!]!) {{ {aliases} }}", "variables": {"a": agency["id"], "ids": ids}}, token)
took = time.monotonic() - started
print(f"  aliases: 2,400 x {len(ids)} ids: {code(answer)} in {took:.2f} s ({(answer.get('errors') or [{}])[0].get('message', 'ran')[:60]})")
compact = " ".join(f"e{i}:invitationEligibility(agencyId:$a,creatorIds:$i){{invitable}}" for i in range(1000))
status, answer = post({"query": f"query($a:ID!,$i:[ID!]!){{{compact}}}", "variables": {"a": agency["id"], "i": ids}}, token)
cost = (answer.get("extensions") or {}).get("cost", {}).get("requestedQueryCost")
print(f"  aliases: 1,000 x {len(ids)} ids, {len(compact) // 1000} KB: priced {cost}, {code(answer)}")

chain = "query { ...F0 }\n" + "".join(f"fragment F{i} on Query {{ ...F{i+1} }}\n" for i in range(4000)) + "fragment F4000 on Query { __typename }\n"
try: status, answer = post({"query": chain}); print(f"  chain:   {len(chain)//1000} KB -> HTTP {status} {code(answer)}, server up: {alive()}")
except Exception as e: print(f"  chain:   {len(chain)//1000} KB -> no answer ({type(e).__name__}), server up: {alive()}")

PY
  kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null
done
