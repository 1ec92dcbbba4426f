// The GraphiQL explorer in a real browser (Debian's chromium, driven by
// playwright-core), against a running `serve --demo` server:
//   node explorer.mjs <base url> <screenshot.png>
// Fails unless the page loads nothing but the server itself, the agency's
// recommendations tab shows ranked creators, the documentation explorer
// lists recommendedCreators, a subscription tab receives the event of a
// mutation sent by another client, and the role picker switches tabs.
import { chromium } from 'playwright-core';

const [base, screenshot] = process.argv.slice(2);
if (!base || !screenshot) throw new Error('usage: node explorer.mjs <base url> <screenshot.png>');
const origin = new URL(base).origin;
const wsOrigin = origin.replace(/^http/, 'ws');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // The test runs as root in CI, where chromium's sandbox cannot start.
  args: ['--no-sandbox'],
});
const problems = [];
const foreign = [];
// Every wait ends: a hung step fails with what the page reported so far.
const within = (ms, what, promise) =>
  Promise.race([
    promise,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms\n${problems.join('\n')}`)), ms),
    ),
  ]);
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(origin) && !url.startsWith('data:')) foreign.push(url);
  });
  page.on('websocket', (ws) => {
    if (!ws.url().startsWith(wsOrigin)) foreign.push(ws.url());
  });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`${r.status()} for ${r.url()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // Content-Security-Policy violations are reported here too.
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });

  await page.goto(`${base}/graphql#agency`);
  await page.waitForSelector('.graphiql-tab');
  const config = JSON.parse(await page.textContent('#explorer-config'));
  const titles = async () => page.$$eval('.graphiql-tab-button', (els) => els.map((e) => e.title));
  const agencyTabs = await titles();
  for (const name of ['RecommendedCreators', 'InvitationEligibility', 'SendInvitation', 'Outbox', 'InvitationEvents']) {
    if (!agencyTabs.includes(name)) throw new Error(`no ${name} tab for the agency: ${agencyTabs}`);
  }

  // What the result pane shows, as GraphiQL's editor holds it.
  const result = () =>
    page.evaluate(() => document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue() ?? '');
  // GraphiQL reads a tab's operation name from its document a moment
  // after the tab opens (debounced): a run before that would name the
  // previous tab's operation.
  const open = async (tab) => {
    await page.click(`.graphiql-tab-button[title="${tab}"]`);
    await page.waitForSelector(`.graphiql-tab-active .graphiql-tab-button[title="${tab}"]`);
    await page.waitForTimeout(600);
  };
  const run = async (tab, until) => {
    await open(tab);
    await page.click('.graphiql-execute-button');
    await page.waitForFunction(
      (needle) => (document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue() ?? '').includes(needle),
      until,
      { timeout: 20000 },
    );
    return result();
  };

  // 1. Ranked recommendations, as the demo agency.
  const ranked = JSON.parse(await run('RecommendedCreators', '"rank"'));
  const edges = ranked.data?.recommendedCreators?.edges ?? [];
  if (ranked.errors || edges.length === 0) throw new Error(`no ranked creators: ${JSON.stringify(ranked)}`);
  edges.forEach((edge, i) => {
    if (edge.rank !== i + 1) throw new Error(`rank ${edge.rank} at position ${i + 1}`);
    if (edge.explanation.length !== 9 || edge.reasons.length === 0) throw new Error(`unexplained: ${JSON.stringify(edge)}`);
  });
  await page.screenshot({ path: screenshot });

  // 2. The documentation explorer knows the ranking.
  await page.click('button[aria-label="Show Documentation Explorer"]');
  await page.click('.graphiql-doc-explorer a:text-is("Query")');
  await page.waitForSelector('.graphiql-doc-explorer a:text-is("recommendedCreators")');

  // 3. A subscription tab receives an event of a mutation another client sends.
  await open('InvitationEvents');
  const acknowledged = new Promise((resolve) => {
    page.on('websocket', (ws) =>
      ws.on('framereceived', (frame) => {
        if (String(frame.payload).includes('connection_ack')) resolve();
      }),
    );
  });
  await page.click('.graphiql-execute-button');
  await within(20000, 'the subscription socket acknowledged', acknowledged);
  const invited = edges[edges.length - 1].node;
  const agency = config.roles.find((r) => r.key === 'agency');
  // Give the server the moment between acknowledging and subscribing.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const sent = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...JSON.parse(agency.headers) },
    body: JSON.stringify({
      query: 'mutation ($id: ID!) { sendInvitation(input: { creatorId: $id }) { invitation { id } userErrors { code } } }',
      variables: { id: invited.id },
    }),
  }).then((r) => r.json());
  const invitation = sent.data?.sendInvitation?.invitation;
  if (!invitation) throw new Error(`the invitation was not sent: ${JSON.stringify(sent)}`);
  await page.waitForFunction(
    (id) => (document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue() ?? '').includes(id),
    invitation.id,
    { timeout: 20000 },
  );
  const event = JSON.parse(await result());
  if (event.data?.invitationEvents?.kind !== 'CREATED' || event.data.invitationEvents.invitation.creator.handle !== invited.handle) {
    throw new Error(`not the invitation's event: ${JSON.stringify(event)}`);
  }

  // 4. Picking another role shows that role's operations.
  await page.selectOption('#explorer-role', 'creator');
  await page.waitForSelector('.graphiql-tab-button[title="Inbox"]');
  const inbox = JSON.parse(await run('Inbox', '"viewer"'));
  if (inbox.data?.viewer?.creator?.handle !== 'demo.creator') throw new Error(`not the demo creator: ${JSON.stringify(inbox)}`);

  if (foreign.length) throw new Error(`the page reached past the server: ${foreign.join(', ')}`);
  if (problems.length) throw new Error(`the page reported problems:\n${problems.join('\n')}`);
  console.log(
    JSON.stringify({
      ranked: edges.length,
      top: edges[0].node.handle,
      event: event.data.invitationEvents.kind,
      creatorTabs: await titles(),
      screenshot,
    }),
  );
} finally {
  await browser.close();
}
