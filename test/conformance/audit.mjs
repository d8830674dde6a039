// Runs graphql-http's GraphQL-over-HTTP audits (serverAudits, through auditServer) against a running authql
// (AUTHQL_URL, default http://127.0.0.1:8080/graphql) and fails on any MUST
// or SHOULD audit that fails, except the deliberate exceptions below, which
// docs/api.md lists with their reasons. It also checks that the schema
// authql serves is exactly the committed schema.graphql.
import { readFileSync } from 'node:fs';
import { auditServer } from 'graphql-http';
import { buildClientSchema, buildSchema, getIntrospectionQuery, lexicographicSortSchema, printSchema } from 'graphql';

const url = process.env.AUTHQL_URL || 'http://127.0.0.1:8080/graphql';

// Audit ids of deliberate departures from the spec's SHOULDs (see docs/api.md,
// "GraphQL over HTTP").
const exceptions = {
  // The contract's own restrictions (mutations only from a JSON POST, no
  // batching) fail no audit: graphql-http has no batching audit, and a
  // mutation over GET is refused with 405 as the spec allows.
};

const results = await auditServer({ url, fetchFn: fetch });
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
const failures = [];
for (const r of results) {
  counts[r.status]++;
  if (r.status === 'ok') continue;
  // error: a MUST failed; warn: a SHOULD; notice: a MAY.
  const level = r.status === 'error' ? 'MUST' : r.status === 'warn' ? 'SHOULD' : 'MAY';
  const excused = exceptions[r.id];
  console.log(`${r.status.toUpperCase()} ${r.id} ${r.name}: ${r.reason}${excused ? ` (deliberate: ${excused})` : ''}`);
  if (level !== 'MAY' && !excused) failures.push(r);
}
console.log(`graphql-http audits: ${results.length} run, ${counts.ok} ok, ${counts.error} error (MUST), ${counts.warn} warn (SHOULD), ${counts.notice} notice (MAY); ${failures.length} MUST/SHOULD failure(s) not excused`);

// The served schema is the committed one, no more (no @defer) and no less.
const res = await fetch(url, {
  method: 'POST',
  headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
  body: JSON.stringify({ query: getIntrospectionQuery({ specifiedByUrl: true, directiveIsRepeatable: true, inputValueDeprecation: true }) }),
});
const body = await res.json();
if (!body.data) {
  console.log(`introspection failed (is AUTHQL_INTROSPECTION on?): ${JSON.stringify(body.errors)}`);
  process.exit(1);
}
// Introspection lists types in its own order: compare both sorted.
const served = printSchema(lexicographicSortSchema(buildClientSchema(body.data)));
const committed = printSchema(lexicographicSortSchema(buildSchema(readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8'))));
if (served !== committed) {
  console.log('the served schema differs from schema.graphql');
  console.log(served);
  process.exit(1);
}
console.log('served schema: identical to schema.graphql');
process.exit(failures.length ? 1 : 0);
