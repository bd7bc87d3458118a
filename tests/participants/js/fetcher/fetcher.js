// A JavaScript participant on the SDK whose `invoke` is async and calls HTTP
// with the platform's own `fetch`: the host links wasi:http for it and sends
// each request through the same checks as the contract's http capability
// (grants, address policy, no redirects, the call's deadline, redaction).
// Secrets are named in the request as `{secret:NAME}` and filled in by the
// host, never seen here.
//
// tests/polyglot.rs builds it from the repository's root (so that the SDK's
// module is inside what the build can read), without the incoming-request
// handler only:
//
//   componentize-js tests/participants/js/fetcher/fetcher.js --wit wit --world-name participant \
//       --disable fetch-event -o fetcher.wasm
import { Action, Description, Kind, Retryable, participant } from '../../../../plugins/sdk-js/mastermind-sdk.js';

export const { describe, invoke } = participant({
  describe: () => new Description('js_fetcher', 'Fetches a URL with fetch(), from JavaScript').action(
    new Action('get', 'Sets `status` and `body` from a GET of `url`')
      .required('url', Kind.STRING, 'what to fetch')
      .optional('token_secret', Kind.STRING, 'a secret sent as a bearer token'),
  ).action(
    new Action('post', 'POSTs `payload` as JSON to `url`; sets `status` and `body`')
      .required('url', Kind.STRING, 'where to post')
      .required('payload', Kind.ANY, 'the JSON body'),
  ),

  async invoke(call) {
    const url = call.param('url', Kind.STRING);
    const headers = {};
    const secret = call.optional('token_secret', Kind.STRING, '');
    if (secret) headers.authorization = `Bearer {secret:${secret}}`;
    const init = call.action === 'post'
      ? { method: 'POST', headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify(call.param('payload', Kind.ANY)) }
      : { headers };
    let response;
    try {
      response = await fetch(url, init);
    } catch (e) {
      throw new Retryable(`fetch ${url} failed: ${e}`);
    }
    return { status: response.status, body: await response.text() };
  },
});
