// `node --test --import ./sdk/register.js`: lets the SDK's imports of the
// contract (`mastermind:participant/...`), which only a component has,
// load natively from `testing-host.js`.
import { register } from 'node:module';

register('./hooks.js', import.meta.url);
