// A Mastermind participant in JavaScript: one action, a log line, a typed error.
//
// Build it into a component with jco (componentize-js) against the contract,
// without the wasi:http import the host does not offer (capabilities go
// through mastermind:participant/http instead):
//
//   jco componentize greeter.js --wit wit --world-name participant --disable http -o greeter.wasm
//
// `invoke` gets its params as JSON text, as the step wrote them: it checks
// them itself. A thrown `{ kind, message }` is the call's error.
import { log } from 'mastermind:participant/log@0.1.0';

export function describe() {
  return {
    name: 'js_greeter',
    version: '0.1.0',
    doc: 'Greets someone, from JavaScript',
    defaultAction: 'greet',
    actions: [
      {
        name: 'greet',
        doc: 'Sets `greeting` to a greeting for `name`',
        params: [
          { name: 'name', kind: 'string', required: true, doc: 'who to greet (not blank)' },
          { name: 'times', kind: 'integer', required: false, doc: 'how many times, 1 to 5 (default 1)' },
        ],
      },
    ],
  };
}

export function invoke(action, params, fields, context) {
  const args = JSON.parse(params);
  if (typeof args.name !== 'string') {
    throw { kind: 'bad-input', message: 'name must be a string' };
  }
  const name = args.name.trim();
  const times = args.times ?? 1;
  if (!Number.isInteger(times)) {
    throw { kind: 'bad-input', message: 'times must be an integer' };
  }
  if (!name) {
    throw { kind: 'bad-input', message: 'name must not be blank' };
  }
  if (times < 1 || times > 5) {
    throw { kind: 'bad-input', message: `times must be 1 to 5, not ${times}` };
  }
  log('info', `greeting ${name} for job ${context.jobId}`);
  const greeting = Array(times).fill(`Hello, ${name}!`).join(' ');
  return JSON.stringify({ greeting, greeted_by: 'javascript' });
}
