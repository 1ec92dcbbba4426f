-- recommendedCreators(first: 20) with explanations and reasons, as the
-- agency in $AGENCY_ID with $TOKEN; counts answers without 20 edges.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "")
wrk.body = string.format('{"query":"query($a: ID!) { recommendedCreators(agencyId: $a, first: 20) { totalCandidates edges { rank score reasons node { id handle displayName categories stats { followers liveDays30d } } explanation { signal value weight contribution } } } }","variables":{"a":"%s"}}', os.getenv("AGENCY_ID") or "")
local bad = 0
response = function(status, headers, body)
  local _, edges = string.gsub(body, '"rank":', "")
  if status ~= 200 or edges ~= 20 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("CSV,%d,%.1f,%.2f,%.2f,%d\n", summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, bad))
end
