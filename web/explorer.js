// The Agency Center explorer: GraphiQL (served by the binary, see
// web/vendor) with ready-made operations for the role picked at the top.
// Everything it needs is in the page's JSON config: the endpoints, and for
// each role its tabs and Headers (demo tokens only on a `serve --demo`
// server; otherwise a placeholder the user replaces with their own token).
(function () {
  'use strict';
  const config = JSON.parse(document.getElementById('explorer-config').textContent);
  const http = new URL(config.endpoint, location.href);
  const socket = new URL(config.subscriptionEndpoint, location.href);
  socket.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // Subscriptions go over graphql-transport-ws; GraphiQL sends the Headers
  // tab as the connection_init payload, where the server reads the token.
  const fetcher = GraphiQL.createFetcher({ url: http.href, subscriptionUrl: socket.href });

  const picker = document.getElementById('explorer-role');
  for (const role of config.roles) {
    const option = document.createElement('option');
    option.value = role.key;
    option.textContent = role.label;
    picker.append(option);
  }
  const root = ReactDOM.createRoot(document.getElementById('graphiql'));

  function show(key) {
    const role = config.roles.find((r) => r.key === key) || config.roles[0];
    picker.value = role.key;
    document.title = `Agency Center · ${role.label}`;
    root.render(
      React.createElement(GraphiQL, {
        // A new role is a fresh GraphiQL with that role's tabs; each role
        // keeps its own edits (per server data set, see `fingerprint`).
        key: role.key,
        fetcher,
        storage: GraphiQL.createLocalStorage({
          namespace: `agency-center:${config.fingerprint}:${role.key}`,
        }),
        defaultTabs: role.tabs.map((tab) => ({
          query: tab.query,
          variables: tab.variables,
          headers: role.headers,
        })),
        defaultHeaders: role.headers,
        // Demo tokens are public; a real token is never written to storage.
        shouldPersistHeaders: config.demo,
        defaultEditorToolsVisibility: true,
      }),
    );
    if (location.hash !== `#${role.key}`) history.replaceState(null, '', `#${role.key}`);
  }

  picker.addEventListener('change', () => show(picker.value));
  window.addEventListener('hashchange', () => show(location.hash.slice(1)));
  show(location.hash.slice(1));
})();
