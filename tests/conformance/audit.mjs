// graphql-http's own server audits against a running server:
//   node audit.mjs http://127.0.0.1:8080/graphql
// Prints one JSON line per audit and exits 1 if any is not ok.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql url>');
  process.exit(2);
}
const results = await auditServer({ url });
let failed = 0;
for (const r of results) {
  console.log(JSON.stringify({ id: r.id, name: r.name, status: r.status, reason: r.reason }));
  if (r.status !== 'ok') failed += 1;
}
console.log(`${results.length} audits, ${results.length - failed} ok, ${failed} not ok`);
process.exit(failed === 0 ? 0 : 1);
