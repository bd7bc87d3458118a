// A Mastermind participant in JavaScript, on the SDK (plugins/sdk-js): an
// action with typed params, a log line, an error with a kind; another that
// uses the http capability with a secret.
//
// tests/polyglot.rs builds it with componentize-js from the repository's
// root (so that the SDK's module is inside what the build can read),
// without the incoming-request handler (a participant does not serve):
//
//   componentize-js tests/participants/js/greeter/greeter.js --wit wit --world-name participant \
//       --disable fetch-event -o greeter.wasm
import {
  Action, BadInput, Description, Kind, http, keep, log, participant, sleep,
} from '../../../../plugins/sdk-js/mastermind-sdk.js';

export const { describe, invoke } = participant({
  describe: () => new Description('js_greeter', 'Greets someone, from JavaScript').action(
    new Action('greet', 'Sets `greeting` to a greeting for `name`')
      .required('name', Kind.STRING, 'who to greet (not blank)')
      .optional('times', Kind.INTEGER, 'how many times, 1 to 5 (default 1)')
      .optional('sleep_ms', Kind.INTEGER, 'sleep this long first (host/benches/polyglot.rs)'),
  ).action(
    new Action('notify', 'POSTs a greeting for `name` to `url`, with the secret `token`')
      .required('url', Kind.STRING, 'where to')
      .required('name', Kind.STRING, 'who to greet'),
  ),

  invoke(call) {
    if (call.action === 'notify') {
      const url = call.param('url', Kind.STRING);
      keep({ notified: url });
      const response = http.post(url).bearerSecret('token').header('X-Greeter', 'javascript')
        .json({ greeting: `Hello, ${call.param('name', Kind.STRING)}!` }).timeout(5).send()
        .errorForStatus('notifying');
      return { status: response.status, echo: response.text() };
    }
    // The SDK checked the params' types against the description.
    const name = call.param('name', Kind.STRING).trim();
    const times = call.optional('times', Kind.INTEGER, 1);
    if (!name) throw new BadInput('name must not be blank');
    if (times < 1 || times > 5) throw new BadInput(`times must be 1 to 5, not ${times}`);
    const sleepMs = call.optional('sleep_ms', Kind.INTEGER, 0);
    if (sleepMs > 0) sleep(sleepMs / 1000);
    log.info(`greeting ${name} for job ${call.context.jobId}`);
    return { greeting: Array(times).fill(`Hello, ${name}!`).join(' '), greeted_by: 'javascript' };
  },
});
