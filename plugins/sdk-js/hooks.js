// Module resolution hooks (registered by `register.js`): each interface of
// the contract becomes a module re-exporting its functions from
// `testing-host.js`.
const NAMES = {
  log: ['log', 'progress'],
  timer: ['sleep'],
  outcome: ['keep'],
  http: ['send'],
  ssh: ['exec'],
  ec2: ['runInstances', 'describeInstances', 'changeState'],
  chef: ['send'],
};
const SCHEME = 'mastermind-test-host:';

export async function resolve(specifier, context, next) {
  const m = /^mastermind:participant\/([a-z0-9-]+)@0\.1\.0$/.exec(specifier);
  if (m && NAMES[m[1]]) return { url: SCHEME + m[1], shortCircuit: true };
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!url.startsWith(SCHEME)) return next(url, context);
  const name = url.slice(SCHEME.length);
  const host = JSON.stringify(new URL('./testing-host.js', import.meta.url).href);
  const source = [`import { interfaces } from ${host};`]
    .concat(NAMES[name].map((f) => `export const ${f} = (...args) => interfaces.${name}.${f}(...args);`))
    .join('\n');
  return { format: 'module', source, shortCircuit: true };
}
