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
  // One role per page load: GraphiQL keeps its tabs for the life of the
  // page, so another role is the same page again with another #role.
  const role = config.roles.find((r) => `#${r.key}` === location.hash) || config.roles[0];
  picker.value = role.key;
  document.title = `Agency Center · ${role.label}`;
  picker.addEventListener('change', () => {
    location.hash = picker.value;
  });
  window.addEventListener('hashchange', () => location.reload());

  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, {
      fetcher,
      // Each role keeps its own tabs and edits, per data set (`fingerprint`:
      // other ids in the operations start from fresh tabs).
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
})();
