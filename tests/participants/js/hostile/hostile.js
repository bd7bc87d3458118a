// A hostile JavaScript participant: the host must stop it, not be stopped
// by it. `spin` never returns (the call's deadline ends it); `grow` keeps
// allocating (the call's memory limit ends it). tests/polyglot.rs runs both.

export function describe() {
  return {
    name: 'js_hostile',
    version: '0.1.0',
    doc: 'Misbehaves, from JavaScript',
    defaultAction: undefined,
    actions: [
      { name: 'spin', doc: 'Loops forever', params: [] },
      { name: 'grow', doc: 'Allocates 1 MiB after 1 MiB, forever', params: [] },
    ],
  };
}

export function invoke(action, params, fields, context) {
  if (action === 'spin') {
    let n = 0;
    for (;;) n++;
  }
  const hoard = [];
  for (;;) {
    // Filled, so that the pages are really used.
    hoard.push(new Uint8Array(1 << 20).fill(hoard.length & 0xff));
  }
}
