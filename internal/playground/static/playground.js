// Bootstrap for the embedded GraphiQL playground (see playground.go).
//
// Loaded after the React, ReactDOM and GraphiQL UMD bundles. It reads its
// configuration from data-* attributes of #graphiql and the style nonce from
// its own <script nonce> attribute, so the page needs no inline script.
(function () {
  'use strict';

  var root = document.getElementById('graphiql');
  var endpoint = root.getAttribute('data-endpoint');

  function fail(message) {
    var p = document.createElement('p');
    p.className = 'playground-message';
    p.textContent = message;
    root.replaceChildren(p);
  }

  if (!window.React || !window.ReactDOM || !window.GraphiQL) {
    fail('The GraphiQL playground failed to load its scripts.');
    return;
  }

  // Components such as dialogs inject <style> elements at run time. The
  // Content-Security-Policy only allows styles from 'self' and those carrying
  // this page's nonce; the bundled style injector reads the nonce from
  // window.__webpack_nonce__.
  var script = document.currentScript;
  if (script && script.nonce) {
    window.__webpack_nonce__ = script.nonce;
  }

  // fetcher sends a GraphQL-over-HTTP POST. Headers typed into GraphiQL's
  // headers editor (e.g. {"Authorization": "Bearer …"}) arrive in opts.headers
  // and override the defaults.
  function fetcher(params, opts) {
    var headers = new Headers({
      'Content-Type': 'application/json',
      Accept: 'application/graphql-response+json, application/json'
    });
    var extra = (opts && opts.headers) || {};
    Object.keys(extra).forEach(function (name) {
      headers.set(name, String(extra[name]));
    });
    return fetch(endpoint, {
      method: 'POST',
      headers: headers,
      body: JSON.stringify(params),
      credentials: 'same-origin'
    }).then(function (response) {
      return response.text().then(function (text) {
        try {
          return JSON.parse(text);
        } catch (e) {
          return {
            errors: [{
              message: 'HTTP ' + response.status + ' ' + response.statusText +
                ': response is not JSON: ' + text.slice(0, 500)
            }]
          };
        }
      });
    });
  }

  // What a newcomer runs first: an account, then who the token says they are.
  var defaultQuery = [
    '# 1. Sign up (or log in) and copy the accessToken.',
    '# 2. In Headers below: {"Authorization": "Bearer <accessToken>"}',
    '# 3. Run Me.',
    '',
    'mutation Signup {',
    '  signup(input: {email: "ada@example.com", password: "correct horse battery"}) {',
    '    accessToken refreshToken expiresIn user { id email }',
    '  }',
    '}',
    '',
    'mutation Login {',
    '  login(input: {email: "ada@example.com", password: "correct horse battery"}) {',
    '    accessToken refreshToken expiresIn',
    '  }',
    '}',
    '',
    'query Me {',
    '  me { id email createdAt }',
    '  sessions { id userAgent ipAddress current lastUsedAt }',
    '}',
    ''
  ].join('\n');

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: 'headers'
    })
  );
})();
