// A JavaScript participant that calls HTTP with the platform's own `fetch`:
// the host links wasi:http for it and sends each request through the same
// checks as the contract's http capability (grants, address policy, no
// redirects, the call's deadline, redaction). Secrets are named in the
// request as `{secret:NAME}` and filled in by the host, never seen here.
//
// Built with componentize-js, without the incoming-handler export only:
//
//   componentize-js fetcher.js --wit wit --world-name participant --disable fetch-event -o fetcher.wasm
//
// tests/polyglot.rs calls it against a loopback receiver, granted and not.

export function describe() {
  return {
    name: 'js_fetcher',
    version: '0.1.0',
    doc: 'Fetches a URL with fetch(), from JavaScript',
    defaultAction: 'get',
    actions: [
      {
        name: 'get',
        doc: 'Sets `status` and `body` from a GET of `url`',
        params: [
          { name: 'url', kind: 'string', required: true, doc: 'what to fetch' },
          { name: 'token_secret', kind: 'string', required: false, doc: 'a secret sent as a bearer token' },
        ],
      },
      {
        name: 'post',
        doc: 'POSTs `payload` as JSON to `url`; sets `status` and `body`',
        params: [
          { name: 'url', kind: 'string', required: true, doc: 'where to post' },
          { name: 'payload', kind: 'any', required: true, doc: 'the JSON body' },
        ],
      },
    ],
  };
}

export async function invoke(action, params, fields, context) {
  const args = JSON.parse(params);
  const headers = {};
  if (args.token_secret) {
    headers.authorization = `Bearer {secret:${args.token_secret}}`;
  }
  const init = action === 'post'
    ? { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(args.payload) }
    : { headers };
  let response;
  try {
    response = await fetch(args.url, init);
  } catch (e) {
    throw { kind: 'retryable', message: `fetch ${args.url} failed: ${e}` };
  }
  const body = await response.text();
  return JSON.stringify({ status: response.status, body });
}
