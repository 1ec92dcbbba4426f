// Apollo Client's PersistedQueryLink against a running server:
//   node apq.mjs http://127.0.0.1:8080/graphql
// Runs one query twice with hashed GETs, and records every HTTP exchange.
// Prints one JSON object: { first, second, exchanges: [{method, hashOnly, status}] }.
import { ApolloClient, InMemoryCache, HttpLink, gql } from '@apollo/client/core/index.js';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries/index.js';
import { createHash } from 'node:crypto';

const url = process.argv[2];
const exchanges = [];
const recordingFetch = async (input, init) => {
  const res = await fetch(input, init);
  const target = new URL(typeof input === 'string' ? input : input.url);
  const body = init?.body ? JSON.parse(init.body) : null;
  const hashOnly = init?.method === 'GET' || !init?.method
    ? !target.searchParams.has('query')
    : !(body && body.query);
  exchanges.push({ method: init?.method ?? 'GET', hashOnly, status: res.status });
  return res;
};
const sha256 = (q) => createHash('sha256').update(q).digest('hex');
const link = createPersistedQueryLink({ sha256, useGETForHashedQueries: true }).concat(
  new HttpLink({ uri: url, fetch: recordingFetch }),
);
const client = new ApolloClient({ link, cache: new InMemoryCache(), defaultOptions: { query: { fetchPolicy: 'no-cache' } } });
const query = gql`query Directory { agencies(first: 3) { totalCount edges { node { slug } } } }`;
const first = await client.query({ query });
const second = await client.query({ query });
console.log(JSON.stringify({ first: first.data, second: second.data, exchanges }));
