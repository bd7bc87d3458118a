// Write a Mastermind participant in one small JavaScript file.
//
// A participant is a WebAssembly component that Mastermind calls for each
// workflow step; componentize-js builds it from an ES module exporting
// `describe` and `invoke`. This module hides the WIT bindings behind the
// names of the Rust SDK (mastermind-sdk):
//
//   import { Action, BadInput, Description, Kind, log, participant } from './sdk/mastermind-sdk.js';
//
//   export const { describe, invoke } = participant({
//     describe: () => new Description('greeter', 'Says hello')
//       .action(new Action('greet', 'Puts a greeting into the fields').required('name', Kind.STRING, 'who to greet')),
//     invoke(call) {
//       const name = call.param('name', Kind.STRING);
//       log.info(`greeting ${name}`);
//       return { greeting: `hello, ${name}` };
//     },
//   });
//
// Before `invoke` runs, the call is checked against the description: an
// unknown action, a missing required param or a param of the wrong JSON
// type fails the step with one `bad-input` error listing every problem. The
// same code runs under `node --test` with `sdk/testing.js`, which answers
// the imports below with a stub host.
import { log as hostLog, progress as hostProgress } from 'mastermind:participant/log@0.1.0';
import { sleep as hostSleep } from 'mastermind:participant/timer@0.1.0';
import { keep as hostKeep } from 'mastermind:participant/outcome@0.1.0';
import { send as httpSend } from 'mastermind:participant/http@0.1.0';
import { exec as sshExec } from 'mastermind:participant/ssh@0.1.0';
import { changeState, describeInstances, runInstances } from 'mastermind:participant/ec2@0.1.0';
import { send as chefSend } from 'mastermind:participant/chef@0.1.0';

/** A failed call: a kind (what the engine may do next), one line for the
 * operator, and fields to keep in the job's workitem despite the failure. */
export class CallError extends Error {
  constructor(kind, message, fields = undefined) {
    super(message);
    this.kind = kind;
    this.fields = fields;
  }

  toString() {
    return `${this.kind}: ${this.message}`;
  }

  /** The error of that kind (`retryable`, `fatal`, `denied`, `bad-input`). */
  static of(kind, message) {
    const type = { retryable: Retryable, denied: Denied, 'bad-input': BadInput }[kind] ?? Fatal;
    return new type(message);
  }
}
/** Transient: retrying the same step may succeed (`on_error: retry`). */
export class Retryable extends CallError { constructor(m, f) { super('retryable', m, f); } }
/** Permanent: retrying will not help. */
export class Fatal extends CallError { constructor(m, f) { super('fatal', m, f); } }
/** The step's params are wrong. */
export class BadInput extends CallError { constructor(m, f) { super('bad-input', m, f); } }
/** A capability was refused; the host raises it when a grant is missing. */
export class Denied extends CallError { constructor(m, f) { super('denied', m, f); } }

// An import's error arrives as the contract's call-error, wrapped by the
// bindings (`payload`); it becomes the SDK's error of that kind.
function calling(f, ...args) {
  try {
    return f(...args);
  } catch (e) {
    const p = e?.payload ?? e;
    if (p && typeof p.kind === 'string' && !(p instanceof CallError)) throw CallError.of(p.kind, p.message);
    throw e;
  }
}

/** The JSON type a param must have (an integer is also a number). */
export const Kind = Object.freeze({
  STRING: 'string', INTEGER: 'integer', NUMBER: 'number', BOOLEAN: 'boolean', ARRAY: 'array', OBJECT: 'object',
  ANY: 'any',
});

function jsonKind(v) {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'float';
  return typeof v === 'object' ? 'object' : typeof v;
}
const article = (k) => (k === 'null' ? k : k === 'any' ? 'any value' : (/^[aeiou]/.test(k) ? 'an ' : 'a ') + k);
function accepts(kind, v) {
  const k = jsonKind(v);
  return kind === 'any' || k === kind || (kind === 'number' && (k === 'integer' || k === 'float'));
}

/** One action: its name, what it does, and its params, built in a chain. */
export class Action {
  constructor(name, doc) {
    Object.assign(this, { name, doc, params: [] });
  }
  required(name, kind, doc) { return this.#param(name, kind, true, doc); }
  optional(name, kind, doc) { return this.#param(name, kind, false, doc); }
  /** The action also takes params it does not list (the host's definition
   * check otherwise refuses an unknown param as a typo). */
  anyParams(doc) { return this.#param('*', Kind.ANY, false, doc); }
  #param(name, kind, required, doc) {
    if (!Object.values(Kind).includes(kind)) throw new TypeError(`param '${name}': unknown kind ${kind}`);
    this.params.push({ name, kind, required, doc });
    return this;
  }

  /** Every problem with `params` for this action, one line each, worded
   * as the Rust SDK words them. */
  check(params) {
    const problems = [];
    const missing = this.params.filter((p) => p.required && params[p.name] == null).map((p) => p.name);
    if (missing.length) problems.push(`missing required param(s): ${missing.join(', ')}`);
    for (const p of this.params) {
      const v = params[p.name];
      if (v != null && !accepts(p.kind, v)) {
        problems.push(`param '${p.name}' must be ${article(p.kind)}, got ${article(jsonKind(v))}`);
      }
    }
    return problems;
  }
}

/** A participant's name, version, doc and actions. */
export class Description {
  constructor(name, doc, version = '0.1.0') {
    Object.assign(this, { name, doc, version, actions: [], defaultAction: undefined });
  }
  action(action) { this.actions.push(action); return this; }
  /** The action a bare step calls; the first action when not set. */
  default(name) { this.defaultAction = name; return this; }
  find(name) { return this.actions.find((a) => a.name === name); }
}

/** One invocation: the action, its params, the job's fields and context
 * (jobId, stepId, attempt, idempotencyKey, tenant, settings). */
export class Call {
  constructor(action, params, fields, context) {
    const settings = Object.fromEntries(context.settings ?? []);
    this.context = { ...context, settings, setting: (name) => settings[name] };
    Object.assign(this, { action, params, fields });
  }

  /** A required param, checked to be of `kind`; BadInput when it is missing
   * or mistyped. */
  param(name, kind = Kind.ANY) {
    const v = this.params[name];
    if (v == null) throw new BadInput(`missing required param '${name}'`);
    return checked(name, v, kind);
  }

  /** A param that may be absent (or null): then `fallback`. */
  optional(name, kind = Kind.ANY, fallback = undefined) {
    const v = this.params[name];
    return v == null ? fallback : checked(name, v, kind);
  }

  /** A duration param in seconds: `30`, `'90s'`, `'5m'`, `'1h30m'`. */
  duration(name, fallback = undefined) {
    const v = this.params[name];
    if (v == null) {
      if (fallback === undefined) throw new BadInput(`missing required param '${name}'`);
      return fallback;
    }
    try {
      return parseDuration(v);
    } catch (e) {
      throw new BadInput(`param '${name}': ${e.message}`);
    }
  }
}

function checked(name, v, kind) {
  if (!accepts(kind, v)) throw new BadInput(`param '${name}' must be ${article(kind)}, got ${article(jsonKind(v))}`);
  return v;
}

const UNITS = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds from a number or text such as `500ms`, `90s`, `5m`, `1h30m`,
 * `2d` (the language's spelling for `timeout:`). */
export function parseDuration(value) {
  const expected = "expected seconds (e.g. 30) or a duration such as '90s', '5m', '1h30m'";
  if (typeof value !== 'number' && typeof value !== 'string') throw new Error(expected);
  const text = String(value).trim();
  let seconds = Number(text);
  if (text === '' || Number.isNaN(seconds)) {
    const parts = [...text.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/g)];
    if (!parts.length || text.replace(/(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/g, '').trim()) {
      throw new Error(`'${value}': ${expected}`);
    }
    seconds = parts.reduce((sum, [, n, unit]) => sum + Number(n) * UNITS[unit], 0);
  }
  if (!(seconds >= 0 && seconds < 1e9)) throw new Error(expected);
  if (seconds === 0) throw new Error('must be more than zero');
  return seconds;
}

/** Checks a call against the description, then runs it: what the host's
 * call and the tests' both go through. */
function run(definition, call) {
  const description = definition.describe();
  const spec = description.find(call.action);
  if (!spec) {
    const known = description.actions.map((a) => a.name).join(', ');
    throw new BadInput(`participant '${description.name}' has no action '${call.action}' (known: ${known})`);
  }
  const problems = spec.check(call.params);
  if (problems.length) throw new BadInput(`${call.action}: ${problems.join('; ')}`);
  const updates = definition.invoke(call) ?? {};
  if (typeof updates !== 'object' || Array.isArray(updates)) {
    throw new TypeError(`invoke must return an object of field updates, not ${jsonKind(updates)}`);
  }
  return updates;
}

function object(what, text) {
  let v;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new BadInput(`${what} is not valid JSON: ${e.message}`);
  }
  if (jsonKind(v) !== 'object') throw new BadInput(`${what} must be a JSON object`);
  return v;
}

/** The component's `describe` and `invoke` for a participant given as
 * `{ describe() -> Description, invoke(call) -> field updates }`: export
 * them from the participant's module, e.g.
 * `export const { describe, invoke } = participant({ ... })`. A CallError
 * thrown by `invoke` is the call's error; anything else thrown is a crash. */
export function participant(definition) {
  return {
    describe() {
      const d = definition.describe();
      return {
        name: d.name, version: d.version, doc: d.doc, defaultAction: d.defaultAction ?? d.actions[0]?.name,
        actions: d.actions.map((a) => ({ name: a.name, doc: a.doc, params: a.params.map((p) => ({ ...p })) })),
      };
    },
    invoke(action, params, fields, context) {
      try {
        return JSON.stringify(run(definition, new Call(action, object('params', params), object('fields', fields), context)));
      } catch (e) {
        if (!(e instanceof CallError)) throw e;
        if (e.fields) {
          try {
            hostKeep(JSON.stringify(e.fields));
          } catch {
            // The error itself says what went wrong.
          }
        }
        throw { kind: e.kind, message: e.message };
      }
    },
  };
}

const level = (name) => (message) => hostLog(name, String(message));
/** Log lines and progress, shown live to whoever watches the job. */
export const log = Object.freeze({
  debug: level('debug'), info: level('info'), warn: level('warn'), error: level('error'),
  /** What is happening now and, if known, how far along (0-100). */
  progress(message, percent = undefined) {
    hostProgress(String(message), percent == null ? undefined : Math.max(0, Math.min(100, Math.round(percent))));
  },
});
export const progress = log.progress;

/** Sleeps without holding a host thread; cut short by the call's deadline. */
export function sleep(seconds) {
  hostSleep(BigInt(Math.max(0, Math.round(seconds * 1000))));
}

/** Keeps `fields` in the job's workitem even if this call then fails: call
 * it as soon as something exists that an error handler must clean up. */
export function keep(fields) {
  calling(hostKeep, JSON.stringify(fields));
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ms = (seconds) => Math.round(seconds * 1000);

/** An HTTP request through the host, which checks the URL against the
 * grants (`http=HOST[:PORT]`), splices in secrets and redacts them from the
 * response. Redirects are not followed. Built in a chain, then sent. */
class HttpRequest {
  constructor(method, url) {
    Object.assign(this, { method: method.toUpperCase(), url, headers: [], secrets: [], body: undefined });
    this.timeoutMs = undefined;
  }
  static get(url) { return new HttpRequest('GET', url); }
  static post(url) { return new HttpRequest('POST', url); }
  header(name, value) { this.headers.push({ name, value }); return this; }
  /** `Authorization: Bearer <value of secret>`. */
  bearerSecret(secret) { return this.secretHeader('Authorization', 'Bearer ', secret); }
  /** Header `name` set to `prefix` + the value of `secret`. */
  secretHeader(name, prefix, secret) {
    this.secrets.push({ tag: 'header', val: { name, prefix, secret } });
    return this;
  }
  /** HTTP Basic with the secret as user name and a literal password. */
  basicAuthSecretUser(secret, password) {
    this.secrets.push({ tag: 'basic-auth', val: [{ tag: 'secret', val: secret }, { tag: 'literal', val: password }] });
    return this;
  }
  /** HTTP Basic with a literal user name and the secret as password. */
  basicAuthSecretPassword(user, secret) {
    this.secrets.push({ tag: 'basic-auth', val: [{ tag: 'literal', val: user }, { tag: 'secret', val: secret }] });
    return this;
  }
  /** Lets the host replace `{secret:NAME}` in the URL with secret NAME. */
  urlSecret(name) { this.secrets.push({ tag: 'url-placeholder', val: name }); return this; }
  /** A JSON body, with `Content-Type: application/json`. */
  json(value) { return this.header('Content-Type', 'application/json').data(JSON.stringify(value)); }
  data(body) { this.body = typeof body === 'string' ? encoder.encode(body) : new Uint8Array(body); return this; }
  timeout(seconds) { this.timeoutMs = ms(seconds); return this; }
  /** A header set with `header` (not the secret ones, which only the host knows). */
  headerValue(name) {
    return this.headers.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;
  }
  /** The names of the secrets the host is asked to splice in. */
  secretNames() {
    return this.secrets.flatMap((s) => {
      if (s.tag === 'header') return [s.val.secret];
      if (s.tag === 'url-placeholder') return [s.val];
      return s.val.filter((p) => p.tag === 'secret').map((p) => p.val);
    });
  }
  send() {
    const r = calling(httpSend, { ...this });
    return new HttpResponse(r.status, r.body, r.headers.map((h) => [h.name, h.value]));
  }
}

/** A response: status, headers ([name, value], names in lower case), body (bytes). */
class HttpResponse {
  constructor(status, body = '', headers = []) {
    this.status = status;
    this.body = typeof body === 'string' ? encoder.encode(body) : new Uint8Array(body);
    this.headers = headers.map(([k, v]) => [k.toLowerCase(), v]);
  }
  header(name) { return this.headers.find(([k]) => k === name.toLowerCase())?.[1]; }
  text() { return decoder.decode(this.body); }
  /** The body as JSON; a Fatal error when it is not. */
  json() {
    try {
      return JSON.parse(this.text());
    } catch (e) {
      throw new Fatal(`response body is not the expected JSON: ${e.message}`);
    }
  }
  /** Throws for an error status: 408, 429 and 5xx are Retryable, other 4xx Fatal. */
  errorForStatus(what) {
    if (this.status < 400) return this;
    const message = `${what}: HTTP ${this.status}: ${this.text().slice(0, 300).trim()}`;
    throw this.status === 408 || this.status === 429 || this.status >= 500 ? new Retryable(message) : new Fatal(message);
  }
}

export const http = Object.freeze({ Request: HttpRequest, Response: HttpResponse, get: HttpRequest.get, post: HttpRequest.post });

/** One command over SSH for one or many targets (`ssh=USER@HOST[:PORT]`);
 * the host holds the key (`secret=NAME`) and checks host keys. */
class Exec {
  constructor(command, keySecret) {
    /** The contract's exec-request, as the host gets it (and a test's stub). */
    this.request = {
      command, keySecret, targets: [], stdin: undefined, timeoutMs: undefined, concurrency: 0, hostKeys: [],
    };
  }
  target(host, port = 22, user = 'root') { this.request.targets.push({ host, port, user }); return this; }
  /** Sent to the command's standard input, then closed. */
  stdin(text) { this.request.stdin = text; return this; }
  /** Per target; defaults to, and is capped by, the call's deadline. */
  timeout(seconds) { this.request.timeoutMs = ms(seconds); return this; }
  /** At most `n` targets at once (0: all). */
  concurrency(n) { this.request.concurrency = n; return this; }
  /** Pins `host` (or `host:port`) to a `SHA256:...` fingerprint. */
  hostKey(host, fingerprint) { this.request.hostKeys.push([host, fingerprint]); return this; }
  /** One result per target, in order: `{ stdout, stderr, exitStatus,
   * exitSignal, durationMs }`, or the CallError of that target. Throws only
   * when the request is refused as a whole. */
  run() {
    return calling(sshExec, this.request).map((r) =>
      r.tag === 'err' ? CallError.of(r.val.kind, r.val.message) : { ...r.val, durationMs: Number(r.val.durationMs) });
  }
}

export const ssh = Object.freeze({ Exec });

/** Amazon EC2 through the host: the credentials are a secret the call names
 * (`secret=aws`), the region must be granted (`ec2=REGION`). Instances are
 * the contract's records (`instanceId`, `state`, `privateIp`, `tags` as
 * [{ key, value }], ...). */
export const ec2 = Object.freeze({
  /** Launches `options.count` instances (default 1). Options: keyName,
   * availabilityZone, securityGroups, securityGroupIds, subnetId, userData,
   * tags (an object), clientToken, count. */
  runInstances(credentials, region, imageId, instanceType, options = {}) {
    const tags = Object.entries(options.tags ?? {}).map(([key, value]) => ({ key, value }));
    const request = {
      keyName: undefined, availabilityZone: undefined, securityGroups: [], securityGroupIds: [], subnetId: undefined,
      userData: undefined, clientToken: undefined, count: 1, ...options, tags, region, imageId, instanceType,
    };
    return calling(runInstances, credentials, request);
  },
  /** The given instances; with no ids, the live ones matching `filters`
   * (EC2 filter name to accepted values, e.g. { 'tag:Name': ['web'] }). */
  describeInstances(credentials, region, instanceIds = [], filters = {}) {
    return calling(describeInstances, credentials, region, instanceIds, Object.entries(filters));
  },
  /** `start`, `stop`, `reboot` or `terminate`; each change is { instanceId,
   * previousState, currentState } (a reboot reports none). */
  changeState(credentials, region, instanceIds, action) {
    if (!['start', 'stop', 'reboot', 'terminate'].includes(action)) {
      throw new TypeError(`action must be start, stop, reboot or terminate, not ${action}`);
    }
    return calling(changeState, credentials, region, instanceIds, action);
  },
});

/** One Chef Infra server as one client (`chef=SERVER_URL`); the host signs
 * every request with the key the secret holds (`secret=NAME`). */
class ChefServer {
  constructor(url, clientName, keySecret) {
    Object.assign(this, { url: url.replace(/\/+$/, ''), clientName, keySecret });
  }
  get(path) { return this.#call('GET', path); }
  post(path, body) { return this.#call('POST', path, body); }
  put(path, body) { return this.#call('PUT', path, body); }
  delete(path) { return this.#call('DELETE', path); }
  /** One request; its `{ status, body }` whatever the status. */
  send(method, path, body = undefined) {
    const request = {
      serverUrl: this.url, clientName: this.clientName, keySecret: this.keySecret, method: method.toUpperCase(), path,
      body: body === undefined ? undefined : JSON.stringify(body),
    };
    return calling(chefSend, request);
  }
  /** Sends, turns an error status into an error an operator can act on
   * (408, 429, 5xx retryable; the rest fatal), parses the JSON body. */
  #call(method, path, body) {
    const { status, body: text } = this.send(method, path, body);
    const what = `Chef ${method} ${path}`;
    if (status >= 200 && status < 300) {
      if (!text.trim()) return null;
      try {
        return JSON.parse(text);
      } catch (e) {
        throw new Fatal(`${what}: the server's answer is not JSON: ${e.message}`);
      }
    }
    let why = text.trim();
    try {
      const error = JSON.parse(text).error;
      if (error != null) why = Array.isArray(error) ? error.join('; ') : String(error);
    } catch {
      // Not JSON: the body is the explanation.
    }
    why = why.split(/\s+/).join(' ').slice(0, 300) || 'no explanation given';
    if (status === 401) {
      throw new Fatal(`${what}: the Chef server refused the request (HTTP 401, not authenticated): ${why}. Check that `
        + `client '${this.clientName}' exists on ${this.url} and that secret '${this.keySecret}' holds its private key`);
    }
    if (status === 408 || status === 429 || status >= 500) {
      throw new Retryable(`${what}: the Chef server failed (HTTP ${status}): ${why}`);
    }
    throw new Fatal(`${what}: the Chef server rejected the request (HTTP ${status}): ${why}`);
  }
}

export const chef = Object.freeze({ Server: ChefServer });
