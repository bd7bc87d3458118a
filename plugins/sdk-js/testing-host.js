// The contract's imports as `node --test` sees them: `register.js` makes
// every `mastermind:participant/...` import of the SDK resolve to these
// functions, which hand the call to the test host of the call being run
// (`testing.js`). No imports of its own, so that the SDK, its bindings and
// the test host load in any order.
let session = null;

/** Makes `next` the test host calls go to; returns the one before. */
export function enter(next) {
  const previous = session;
  session = next;
  return previous;
}

function host(capability) {
  if (!session) {
    throw { kind: 'denied', message: `${capability} is only available in a component, or in a test through sdk/testing.js` };
  }
  return session;
}

/** By interface, the functions the contract's world imports. Outside a test
 * (a script trying a helper), log lines go to stderr and sleep returns. */
export const interfaces = {
  log: {
    log: (level, message) => (session ? session.log(level, message) : console.error(`${level}: ${message}`)),
    progress: (message, percent) => (session ? session.progress(message, percent) : console.error(`progress: ${message}`)),
  },
  timer: { sleep: (ms) => session?.sleep(ms) },
  outcome: { keep: (updates) => host('keep').keep(updates) },
  http: { send: (request) => host('http').answer('http', request) },
  ssh: { exec: (request) => host('ssh').answer('ssh', request) },
  ec2: {
    runInstances: (...args) => host('ec2').answer('ec2RunInstances', ...args),
    describeInstances: (...args) => host('ec2').answer('ec2DescribeInstances', ...args),
    changeState: (...args) => host('ec2').answer('ec2ChangeState', ...args),
  },
  chef: { send: (request) => host('chef').answer('chef', request) },
};
