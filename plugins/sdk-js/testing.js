// Runs a participant natively, under `node --test --import ./sdk/register.js`:
// no Wasm, no host, the same checks as a real call (an unknown action, a
// missing or mistyped param are BadInput before `invoke` runs).
//
//   import * as status from './status.js';
//   import { TestHost, invoke } from './sdk/testing.js';
//   import { http } from './sdk/mastermind-sdk.js';
//
//   const fields = invoke(status, 'check', { name: 'web' });        // or throws the CallError
//   const run = new TestHost({
//     stub: { http: (request) => new http.Response(200, '{"status": "up"}') },
//     settings: { REGION: 'eu-west-1' },
//   }).invoke(status, 'check', {});
//   assert.ok(run.logged('up'));
//
// A capability the stub does not answer fails with a Denied error saying it
// is not available in unit tests. A stub's method gets what the SDK built
// and returns what the host would, or throws a CallError:
//   http(request: http.Request) -> http.Response
//   ssh(request) -> [{ stdout, stderr, exitStatus, ... } or CallError], per target
//   ec2RunInstances(credentials, request), ec2DescribeInstances(credentials, region, ids, filters),
//   ec2ChangeState(credentials, region, ids, action) -> [records]
//   chef(request) -> { status, body }
import { CallError, Denied, http } from './mastermind-sdk.js';
import { enter } from './testing-host.js';

/** The error a capability a test did not stub answers with. */
export function unavailable(capability) {
  return new Denied(`${capability} is not available in unit tests: give the test a stub that answers it `
    + '(new TestHost({ stub }))');
}

/** What one call returned and did. */
export class Run {
  constructor() {
    this.fields = undefined; // the field updates, when it succeeded
    this.error = undefined; // the CallError, when it failed
    this.logs = []; // [level, message], in order
    this.progress = []; // [message, percent or undefined], in order
    this.kept = {}; // fields kept whatever happens (keep, an error's fields)
    this.slept = 0; // seconds slept in all (sleep returns at once here)
  }
  /** Whether a log line contains `text`. */
  logged(text) { return this.logs.some(([, line]) => line.includes(text)); }
  /** The field updates, or throws the call's error. */
  result() {
    if (this.error) throw this.error;
    return this.fields;
  }
}

/** Calls participants (the module exporting `describe` and `invoke`) as the
 * host would, with the capabilities of a stub and a context of the test's
 * choosing. */
export class TestHost {
  constructor({ stub = {}, settings = {}, context = {} } = {}) {
    this.stub = stub;
    this.context = {
      jobId: 'test-job', stepId: '0', attempt: 1, idempotencyKey: 'mm-test', tenant: 'test', ...context,
      settings: Object.entries(settings),
    };
  }

  /** Runs `action` with `params` and `fields` (objects): checked against
   * the description first, then invoked, through the component's own
   * `invoke` (JSON in and out). */
  invoke(participant, action, params = {}, fields = {}) {
    const run = new Run();
    const previous = enter(this.#session(run));
    try {
      run.fields = JSON.parse(participant.invoke(action, JSON.stringify(params), JSON.stringify(fields), this.context));
    } catch (e) {
      if (e instanceof Error) throw e; // a crash, as in a component
      run.error = CallError.of(e.kind, e.message);
    } finally {
      enter(previous);
    }
    return run;
  }

  #session(run) {
    const stub = this.stub;
    const answer = (method, ...args) => {
      if (typeof stub[method] !== 'function') throw unavailable(method.replace(/[A-Z].*/, ''));
      return stub[method](...args);
    };
    return {
      log: (level, message) => run.logs.push([level, message]),
      progress: (message, percent) => run.progress.push([message, percent]),
      sleep: (ms) => { run.slept += Number(ms) / 1000; },
      keep: (updates) => Object.assign(run.kept, JSON.parse(updates)),
      answer(method, ...args) {
        if (method === 'http') {
          const request = Object.assign(Object.create(http.Request.prototype), args[0]);
          const r = answer('http', request);
          return { status: r.status, headers: r.headers.map(([name, value]) => ({ name, value })), body: r.body };
        }
        if (method === 'ssh') {
          return answer('ssh', args[0]).map((r) => (r instanceof CallError
            ? { tag: 'err', val: { kind: r.kind, message: r.message } }
            : { tag: 'ok', val: { stderr: '', exitStatus: 0, exitSignal: undefined, durationMs: 0n, ...r } }));
        }
        return answer(method, ...args);
      },
    };
  }
}

/** Runs `action` with no capability granted: its field updates, or throws
 * its CallError (BadInput when the call does not match the description). */
export function invoke(participant, action, params = {}, fields = {}) {
  return new TestHost().invoke(participant, action, params, fields).result();
}
