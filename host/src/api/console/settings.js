// What a tenant configures: participants (built-in and uploaded, with
// their actions' docs, and uploads), secrets, triggers, schedules, the
// audit log and the tenant's own limits.

import { api, session, h, fill, table, say, report, when, json, parseObject, field, link, enc } from "./ui.js";

export async function participantsPage(main, _params, signal) {
  const list = await api("GET", "/v1/participants", undefined, { signal });
  fill(main,
    h("h1", {}, "Participants"),
    table(list, [
      ["Name", (p) => (p.name ? link(`/participants/${enc(p.name)}`, p.name) : `upload ${p.upload}`)],
      ["Kind", (p) => p.kind],
      ["Version", (p) => (p.version ? `v${p.version}` : p.description?.version || "—")],
      ["State", (p) => (p.error ? `${p.state}: ${p.error}` : p.state)],
      ["What it does", (p) => p.description?.doc || ""],
      ["Grants", (p) => (p.grants.length ? p.grants.join(", ") : "—")],
    ], { label: "Participants" }),
    uploadForm(() => participantsPage(main, [], signal)));
}

function uploadForm(done) {
  const file = h("input", { type: "file", name: "wasm", accept: ".wasm,application/wasm", required: true });
  const grants = h("textarea", { name: "grants", rows: 3, spellcheck: "false", class: "mono", placeholder: "http=api.example.com\nsecret=api_token" });
  const problem = h("div");
  return h("form", { class: "card", onsubmit: async (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return;
    try {
      const bytes = new Uint8Array(await chosen.arrayBuffer());
      let binary = "";
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      say(`Uploading ${chosen.name} (${(bytes.length / 1048576).toFixed(1)} MiB)…`);
      const body = { wasm: btoa(binary), grants: grants.value.split(/\n|,/).map((g) => g.trim()).filter(Boolean) };
      let uploaded = await api("POST", "/v1/participants", body);
      // The server compiles it off the request: poll until it is ready or failed.
      say(`Uploaded ${chosen.name}; compiling…`);
      while (uploaded.state === "compiling") {
        await new Promise((resolve) => setTimeout(resolve, 500));
        uploaded = await api("GET", `/v1/participants/uploads/${enc(uploaded.upload)}`);
      }
      if (uploaded.state === "failed") throw new Error(uploaded.error);
      say(`Uploaded ${uploaded.name} v${uploaded.version}.`);
      await done();
    } catch (error) { report(error, problem); }
  } },
  h("h2", {}, "Upload a participant"),
  field("Component (.wasm, wasm32-wasip2)", file),
  field("Grants, one per line", grants, "Nothing is granted by default: http=HOST, ssh=USER@HOST, ec2=REGION, chef=URL, secret=NAME."),
  problem,
  h("button", { type: "submit", class: "primary" }, "Upload"));
}

export async function participantPage(main, [name], signal) {
  const p = await api("GET", `/v1/participants/${enc(name)}`, undefined, { signal });
  const d = p.description || {};
  const remove = p.kind === "uploaded" ? h("button", { type: "button", class: "danger", onclick: async () => {
    if (!confirm(`Delete the participant ${name}? Jobs that call it will fail.`)) return;
    try { await api("DELETE", `/v1/participants/${enc(name)}`); say(`Deleted ${name}.`); location.hash = "#/participants"; } catch (error) { report(error); }
  } }, "Delete") : null;
  fill(main,
    h("div", { class: "heading" }, h("h1", {}, name), h("span", { class: "muted" }, p.kind, p.version ? ` v${p.version}` : ""), remove),
    p.state !== "ready" ? h("p", { class: p.state === "failed" ? "error" : "muted" }, `Latest upload: ${p.state}${p.error ? ` — ${p.error}` : ""}`) : null,
    h("p", {}, d.doc || ""),
    d.default_action ? h("p", {}, "A bare step calls ", h("code", {}, d.default_action), ".") : null,
    p.grants.length ? h("p", {}, "Granted: ", p.grants.map((g) => h("code", { class: "grant" }, g))) : null,
    (d.actions || []).map((a) => h("section", { class: "card" },
      h("h2", {}, h("code", {}, `${a.name}_${name}`), " — ", a.doc),
      table(a.params, [
        ["Param", (x) => h("code", {}, x.name)],
        ["Type", (x) => x.kind],
        ["Required", (x) => (x.required ? "yes" : "no")],
        ["What", (x) => x.doc],
      ], { empty: "No params.", label: `Params of ${a.name}` }))),
    p.versions ? h("section", {}, h("h2", {}, "Uploads"), table(p.versions, [["Version", (v) => `v${v.version}`], ["Uploaded", (v) => when(v.created_at)]])) : null);
}

export async function secretsPage(main, _params, signal) {
  const list = await api("GET", "/v1/secrets", undefined, { signal });
  const name = h("input", { name: "name", required: true, pattern: "[A-Za-z0-9_.\\-]{1,100}", autocomplete: "off" });
  const value = h("input", { name: "value", type: "password", required: true, autocomplete: "new-password" });
  const problem = h("div");
  const reload = () => secretsPage(main, [], signal);
  fill(main,
    h("h1", {}, "Secrets"),
    h("p", { class: "muted" }, "Values go in and never come out: participants name a secret in a capability call and the host puts the value in; it is redacted from fields, logs and events."),
    table(list, [
      ["Name", (s) => h("code", {}, s.name)],
      ["Set", (s) => when(s.updated_at)],
      ["", (s) => h("button", { type: "button", class: "danger small", "aria-label": `Delete ${s.name}`, onclick: async () => {
        try { await api("DELETE", `/v1/secrets/${enc(s.name)}`); say(`Deleted ${s.name}.`); await reload(); } catch (error) { report(error); }
      } }, "Delete")],
    ], { empty: "No secrets.", label: "Secrets" }),
    h("form", { class: "card", onsubmit: async (event) => {
      event.preventDefault();
      try { await api("PUT", `/v1/secrets/${enc(name.value.trim())}`, { value: value.value }); say(`Set ${name.value.trim()}.`); await reload(); } catch (error) { report(error, problem); }
    } }, h("h2", {}, "Set a secret"), h("div", { class: "row" }, field("Name", name), field("Value", value)), problem, h("button", { type: "submit", class: "primary" }, "Set")));
}

async function definitionChoice(signal) {
  const names = (await api("GET", "/v1/definitions", undefined, { signal })).map((d) => d.name);
  return h("select", { name: "definition", required: true }, names.map((n) => h("option", { value: n }, n)));
}

export async function triggersPage(main, _params, signal) {
  const list = await api("GET", "/v1/triggers", undefined, { signal });
  const definition = await definitionChoice(signal);
  const payloadField = h("input", { name: "field", value: "payload" });
  const perMinute = h("input", { name: "per_minute", type: "number", min: 1, max: 6000, value: 60 });
  const fields = h("textarea", { rows: 3, class: "mono", spellcheck: "false" });
  fields.value = "{}";
  const shown = h("div", { "aria-live": "polite" });
  const reload = async () => { await triggersPage(main, [], signal); };
  fill(main,
    h("h1", {}, "Triggers"),
    h("p", { class: "muted" }, "A trigger is a secret URL: a POST to it launches its definition with the posted JSON under a field. The URL is shown once, when it is made."),
    shown,
    table(list, [
      ["Definition", (t) => t.definition], ["Field", (t) => t.field], ["Per minute", (t) => String(t.per_minute)], ["Made", (t) => when(t.created_at)],
      ["", (t) => h("button", { type: "button", class: "danger small", onclick: async () => {
        try { await api("DELETE", `/v1/triggers/${enc(t.id)}`); say("Trigger deleted."); await reload(); } catch (error) { report(error); }
      } }, "Delete")],
    ], { empty: "No triggers.", label: "Triggers" }),
    h("form", { class: "card", onsubmit: async (event) => {
      event.preventDefault();
      try {
        const made = await api("POST", "/v1/triggers", { definition: definition.value, field: payloadField.value.trim() || "payload", per_minute: Number(perMinute.value), fields: parseObject(fields.value) });
        await reload();
        main.prepend(h("div", { class: "card once", role: "alert" }, h("strong", {}, "The trigger's URL (shown once, keep it): "), h("code", { class: "secret" }, made.url)));
      } catch (error) { report(error, shown); }
    } }, h("h2", {}, "Make a trigger"),
    h("div", { class: "row" }, field("Definition", definition), field("Payload field", payloadField), field("Launches per minute", perMinute)),
    field("Fields every launch starts from", fields),
    h("button", { type: "submit", class: "primary" }, "Make")));
}

export async function schedulesPage(main, _params, signal) {
  const list = await api("GET", "/v1/schedules", undefined, { signal });
  const definition = await definitionChoice(signal);
  const cron = h("input", { name: "cron", required: true, placeholder: "0 3 * * *" });
  const zone = h("input", { name: "time_zone", value: "UTC" });
  const fields = h("textarea", { rows: 3, class: "mono", spellcheck: "false" });
  fields.value = "{}";
  const problem = h("div");
  const reload = () => schedulesPage(main, [], signal);
  fill(main,
    h("h1", {}, "Schedules"),
    table(list, [
      ["Definition", (s) => s.definition], ["Cron", (s) => h("code", {}, s.cron)], ["Zone", (s) => s.time_zone], ["Next", (s) => when(s.next_at)],
      ["Last job", (s) => (s.last_job ? link(`/jobs/${enc(s.last_job)}`, s.last_job.slice(-12)) : "—")],
      ["", (s) => h("button", { type: "button", class: "danger small", onclick: async () => {
        try { await api("DELETE", `/v1/schedules/${enc(s.id)}`); say("Schedule deleted."); await reload(); } catch (error) { report(error); }
      } }, "Delete")],
    ], { empty: "No schedules.", label: "Schedules" }),
    h("form", { class: "card", onsubmit: async (event) => {
      event.preventDefault();
      try {
        await api("POST", "/v1/schedules", { definition: definition.value, cron: cron.value.trim(), time_zone: zone.value.trim() || "UTC", fields: parseObject(fields.value) });
        say("Scheduled."); await reload();
      } catch (error) { report(error, problem); }
    } }, h("h2", {}, "Schedule a definition"),
    h("div", { class: "row" }, field("Definition", definition), field("Cron (minute hour day month weekday)", cron), field("Time zone", zone)),
    field("Fields", fields), problem, h("button", { type: "submit", class: "primary" }, "Schedule")));
}

export async function auditPage(main, _params, signal) {
  const rows = h("div");
  let before = null;
  const more = h("button", { type: "button", onclick: () => load().catch((e) => report(e)) }, "Older entries");
  const entries = [];
  const load = async () => {
    const page = await api("GET", `/v1/audit?limit=100${before ? `&before=${before}` : ""}`, undefined, { signal });
    entries.push(...page);
    before = page.length ? page[page.length - 1].id : before;
    more.hidden = page.length < 100;
    fill(rows, table(entries, [
      ["When", (e) => when(e.at)], ["Action", (e) => e.action], ["Object", (e) => `${e.object_kind} ${e.object_id}`], ["Token", (e) => e.token || "webhook"],
    ], { empty: "Nothing recorded yet.", label: "Audit log" }));
  };
  fill(main, h("h1", {}, "Audit log"), rows, more);
  await load();
}

export async function tenantPage(main, _params, signal) {
  const me = (session.me = await api("GET", "/v1/me", undefined, { signal }));
  const limits = me.tenant ? Object.entries(me.tenant.limits) : [];
  fill(main,
    h("h1", {}, me.tenant ? `Tenant ${me.tenant.name}` : "Server admin"),
    me.tenant ? h("p", { class: "muted" }, "Id ", h("code", {}, me.tenant.id)) : null,
    h("section", { class: "card" }, h("h2", {}, "This token"),
      h("dl", {}, h("dt", {}, "Name"), h("dd", {}, me.token.name), h("dt", {}, "Scopes"), h("dd", {}, me.token.scopes.join(", ")), h("dt", {}, "Issued"), h("dd", {}, when(me.token.created_at)))),
    me.tenant ? h("section", { class: "card" }, h("h2", {}, "Limits"),
      h("p", { class: "muted" }, "Set by the server's admin (mastermind tenants, or PATCH /v1/tenants/{id})."),
      table(limits, [["Limit", ([k]) => h("code", {}, k)], ["Value", ([k, v]) => limitText(k, v)]], { label: "Limits" })) : null,
    h("details", {}, h("summary", {}, "As JSON"), h("pre", { class: "json" }, json(me))));
}

function limitText(key, value) {
  if (key.endsWith("_bytes")) return `${value} (${(value / 1048576).toFixed(value < 1048576 ? 2 : 0)} MiB)`;
  if (key.endsWith("_ms")) return `${value} ms`;
  return String(value);
}
