// The JavaScript SDK natively, as a participant's tests use it: the checks
// of a call against its description, the errors' kinds, and each
// capability's wrapper through a stub. Run from plugins/sdk-js: `npm test`
// (tests/participant_new.rs does).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  Action, BadInput, CallError, Denied, Description, Fatal, Kind, Retryable, chef, ec2, http, keep, log, parseDuration,
  participant, progress, sleep, ssh,
} from '../mastermind-sdk.js';
import { TestHost, invoke } from '../testing.js';

let body = () => ({});
const probe = participant({
  describe: () => new Description('probe', 'Probes the SDK')
    .action(new Action('typed', 'typed params')
      .required('name', Kind.STRING, 'a string')
      .optional('count', Kind.INTEGER, 'an integer')
      .optional('ratio', Kind.NUMBER, 'a number'))
    .action(new Action('any', 'anything').anyParams('whatever')),
  invoke: (call) => body(call),
});
const running = (f, stub = {}, params = {}) => {
  body = f;
  return new TestHost({ stub, settings: { REGION: 'eu-west-1' } }).invoke(probe, 'any', params);
};

test('the description is the contract’s, the first action the default', () => {
  const d = probe.describe();
  assert.equal(d.defaultAction, 'typed');
  assert.deepEqual(d.actions[0].params[0], { name: 'name', kind: 'string', required: true, doc: 'a string' });
});

test('a call is checked against the description before invoke', () => {
  body = () => ({ ran: true });
  assert.throws(() => invoke(probe, 'typed', { count: 1.5, ratio: 'x' }), (e) => e instanceof BadInput
    && e.message === "typed: missing required param(s): name; param 'count' must be an integer, got a float; "
      + "param 'ratio' must be a number, got a string");
  assert.throws(() => invoke(probe, 'nope'), /participant 'probe' has no action 'nope' \(known: typed, any\)/);
  assert.deepEqual(invoke(probe, 'typed', { name: 'x', count: 2, ratio: 2 }), { ran: true });
});

test('params are typed, with defaults, durations and settings', () => {
  const run = running((call) => ({
    count: call.optional('count', Kind.INTEGER, 7), wait: call.duration('wait'), region: call.context.setting('REGION'),
  }), {}, { wait: '1m30s' });
  assert.deepEqual(run.result(), { count: 7, wait: 90, region: 'eu-west-1' });
  const bad = running((call) => call.param('flag', Kind.BOOLEAN), {}, { flag: 1 });
  assert.equal(String(bad.error), "bad-input: param 'flag' must be a boolean, got an integer");
  assert.equal(parseDuration('500ms'), 0.5);
  assert.throws(() => parseDuration('soon'), /expected seconds/);
});

test('errors have kinds and keep fields; other exceptions are crashes', () => {
  for (const [kind, type] of [['retryable', Retryable], ['fatal', Fatal], ['bad-input', BadInput], ['denied', Denied]]) {
    assert.ok(CallError.of(kind, 'm') instanceof type);
    assert.equal(String(new type('m')), `${kind}: m`);
  }
  const run = running(() => {
    keep({ instance_id: 'i-1' });
    throw new Retryable('not running yet', { state: 'pending' });
  });
  assert.ok(run.error instanceof Retryable);
  assert.deepEqual(run.kept, { instance_id: 'i-1', state: 'pending' });
  assert.throws(() => running(() => { throw new TypeError('a bug'); }), TypeError);
});

test('logs, progress and sleep are recorded', () => {
  const run = running(() => {
    log.info('one');
    log.warn('two');
    progress('copying', 40);
    sleep(2.5);
    return {};
  });
  assert.deepEqual(run.logs, [['info', 'one'], ['warn', 'two']]);
  assert.deepEqual(run.progress, [['copying', 40]]);
  assert.equal(run.slept, 2.5);
});

test('an unstubbed capability is denied', () => {
  const run = running(() => http.get('https://example.com/').send());
  assert.ok(run.error instanceof Denied);
  assert.match(run.error.message, /http is not available in unit tests/);
});

test('http', () => {
  let seen;
  const stub = {
    http(request) {
      seen = request;
      return new http.Response(request.method === 'PUT' ? 503 : 200, '{"up": true}', [['X-Id', '7']]);
    },
  };
  const run = running(() => {
    const r = http.post('https://hooks.example.com/x?k={secret:key}').bearerSecret('token')
      .basicAuthSecretPassword('me', 'pw').urlSecret('key').header('Idempotency-Key', 'k1')
      .json({ a: 1 }).timeout(10).send().errorForStatus('posting');
    return { body: r.json(), id: r.header('x-id') };
  }, stub);
  assert.deepEqual(run.result(), { body: { up: true }, id: '7' });
  assert.equal(seen.timeoutMs, 10000);
  assert.equal(seen.headerValue('content-type'), 'application/json');
  assert.deepEqual(seen.secretNames(), ['token', 'pw', 'key']);
  const failed = running(() => new http.Request('put', 'https://x/').send().errorForStatus('putting'), stub);
  assert.equal(String(failed.error), 'retryable: putting: HTTP 503: {"up": true}');
});

test('ssh', () => {
  const stub = {
    ssh(request) {
      assert.equal(request.keySecret, 'ssh_key');
      return [{ stdout: 'up 3 days' }, new Denied('ssh to 10.0.0.6 is not granted')];
    },
  };
  const run = running(() => {
    const [first, second] = new ssh.Exec('uptime', 'ssh_key').target('10.0.0.5', 22, 'deploy').target('10.0.0.6')
      .stdin('in').concurrency(1).run();
    return { out: first.stdout, second: String(second) };
  }, stub);
  assert.deepEqual(run.result(), { out: 'up 3 days', second: 'denied: ssh to 10.0.0.6 is not granted' });
});

test('ec2', () => {
  const stub = {
    ec2RunInstances(credentials, request) {
      assert.deepEqual(request.tags, [{ key: 'Name', value: 'web' }]);
      return Array(request.count).fill({ instanceId: 'i-1', state: 'pending' });
    },
    ec2ChangeState: (credentials, region, ids, action) => [{ instanceId: ids[0], currentState: `${action}ping` }],
  };
  const run = running(() => {
    const launched = ec2.runInstances('aws', 'us-west-2', 'ami-1', 't3.micro', { count: 2, tags: { Name: 'web' } });
    return { launched: launched.length, now: ec2.changeState('aws', 'us-west-2', ['i-1'], 'stop')[0].currentState };
  }, stub);
  assert.deepEqual(run.result(), { launched: 2, now: 'stopping' });
});

test('chef', () => {
  const stub = {
    chef: (request) => (request.path === '/nodes'
      ? { status: 200, body: '{"web1": "url"}' } : { status: 401, body: '{"error": ["bad key"]}' }),
  };
  const server = new chef.Server('https://chef.example.com/organizations/acme/', 'mastermind', 'chef_key');
  assert.deepEqual(running(() => ({ nodes: server.get('/nodes') }), stub).result(), { nodes: { web1: 'url' } });
  const run = running(() => server.delete('/nodes/web1'), stub);
  assert.ok(run.error instanceof Fatal);
  assert.match(run.error.message, /HTTP 401, not authenticated\): bad key\. Check that client 'mastermind'/);
});

// docs/authoring.md's JavaScript examples run as they are written, in a
// project laid out as `participant new` writes one: the participant, its
// test, and the capabilities' calls (against a stub).
test('the documentation’s examples run', () => {
  const sdk = new URL('..', import.meta.url).pathname;
  const doc = readFileSync(join(sdk, '../../docs/authoring.md'), 'utf8');
  const [participantJs, testJs, calls] = [...doc.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  const dir = mkdtempSync(join(tmpdir(), 'mastermind-sdk-doc-'));
  mkdirSync(join(dir, 'sdk'));
  for (const file of readdirSync(sdk).filter((f) => f.endsWith('.js'))) copyFileSync(join(sdk, file), join(dir, 'sdk', file));
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
  writeFileSync(join(dir, 'disk_check.js'), participantJs);
  writeFileSync(join(dir, 'disk_check.test.js'), testJs);
  const indented = calls.split('\n').map((line) => `    ${line}`).join('\n');
  writeFileSync(join(dir, 'calls.test.js'), `
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Action, Description, participant, chef, ec2, http, keep, log, progress, sleep, ssh } from './sdk/mastermind-sdk.js';
import { TestHost } from './sdk/testing.js';
const probe = participant({
  describe: () => new Description('probe', 'p').action(new Action('a', 'a')),
  invoke(call) {
    const host = 'web1', key = 'k';
${indented}
    return { body, found, nodes };
  },
});
test('calls', () => {
  const stub = {
    http: () => new http.Response(200, '{"ok": 1}'), ssh: () => [{ stdout: 'up' }],
    ec2DescribeInstances: () => [{ instanceId: 'i-0abc' }], ec2ChangeState: () => [], ec2RunInstances: () => [{}],
    chef: () => ({ status: 200, body: '{"web1": "url"}' }),
  };
  const run = new TestHost({ stub }).invoke(probe, 'a');
  assert.deepEqual(run.result(), { body: { ok: 1 }, found: [{ instanceId: 'i-0abc' }], nodes: { web1: 'url' } });
  assert.deepEqual(run.logs, [['info', 'resizing the volume'], ['info', 'up']]);
  assert.deepEqual([run.progress, run.kept, run.slept], [[['copying', 40]], { instance_id: 'i-0abc' }, 5]);
});
`);
  // A test runner of its own, not one reporting to this one.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const out = spawnSync(process.execPath, ['--test', '--import', './sdk/register.js'], { cwd: dir, encoding: 'utf8', env });
  assert.equal(out.status, 0, out.stdout + out.stderr);
  assert.match(out.stdout, /# pass 2/, out.stdout);
});
