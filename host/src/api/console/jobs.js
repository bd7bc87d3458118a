// Jobs: the live list, and a job's page (source with its steps marked,
// the definition as a diagram, the timeline, the live event log, fields,
// the error and the controls).

import { api, h, fill, table, badge, say, report, when, duration, between, json, parseObject, field, link, enc, every, followEvents, isOver } from "./ui.js";
import { diagram, stepStates } from "./graph.js";
import { approvalCard } from "./approvals.js";
import { lockNotice } from "./locks.js";

const STATES = ["", "pending", "running", "paused", "failed", "completed", "canceled"];

export async function jobsPage(main, _params, signal) {
  const query = new URLSearchParams(location.hash.split("?")[1] || "");
  const state = h("select", { name: "state" }, STATES.map((s) => h("option", { value: s, selected: s === (query.get("state") || "") }, s || "any")));
  const definition = h("input", { name: "definition", type: "search", placeholder: "any", value: query.get("definition") || "" });
  const list = h("div", { "aria-live": "off" });
  const apply = (event) => {
    event?.preventDefault();
    const q = new URLSearchParams();
    if (state.value) q.set("state", state.value);
    if (definition.value.trim()) q.set("definition", definition.value.trim());
    const hash = `#/jobs${q.toString() ? "?" + q : ""}`;
    if (location.hash !== hash) location.hash = hash; else refresh();
  };
  state.addEventListener("change", apply);
  fill(main,
    h("div", { class: "heading" }, h("h1", {}, "Jobs"), h("a", { class: "button", href: "#/definitions" }, "Launch a job…")),
    h("form", { class: "filters", role: "search", onsubmit: apply },
      field("State", state), field("Definition", definition), h("button", { type: "submit" }, "Filter")),
    list);
  const refresh = async () => {
    const q = new URLSearchParams({ limit: "100" });
    if (query.get("state")) q.set("state", query.get("state"));
    if (query.get("definition")) q.set("definition", query.get("definition"));
    const page = await api("GET", `/v1/jobs?${q}`, undefined, { signal });
    fill(list, table(page.jobs, [
      ["Job", (j) => link(`/jobs/${enc(j.id)}`, j.name || j.id.slice(-12))],
      ["State", (j) => [badge(j.state), j.dry_run ? h("span", { class: "badge dry" }, "dry run") : null]],
      ["Definition", (j) => j.definition || "—"],
      ["Started", (j) => when(j.created_at)],
      ["Duration", (j) => duration(between(j.created_at, j.finished_at))],
    ], { empty: "No jobs here yet. Push a definition and launch it.", label: "Jobs" }));
  };
  await refresh();
  every(2000, signal, refresh);
}

export async function jobPage(main, [id], signal) {
  let job = await api("GET", `/v1/jobs/${enc(id)}`, undefined, { signal });
  let version = null;
  if (job.definition) {
    const at = job.definition.lastIndexOf("@");
    const [name, number] = [job.definition.slice(0, at), job.definition.slice(at + 1)];
    version = await api("GET", `/v1/definitions/${enc(name)}/versions/${enc(number)}`, undefined, { signal }).catch(() => null);
  }
  const live = new Map(); // line -> state the event stream reported since the last refresh
  const parts = {
    state: h("span"), controls: h("div", { class: "controls" }), error: h("div"),
    source: h("div", { class: "source" }), graph: h("div", { class: "graph" }),
    timeline: h("div"), log: h("ol", { class: "events", "aria-live": "polite", "aria-label": "Events" }),
    approvals: h("div"), locks: h("div"), plan: h("div"), fields: h("pre", { class: "json", id: "fields" }), connection: h("span", { class: "muted" }),
  };
  fill(main,
    h("div", { class: "heading" }, h("h1", {}, job.name || "Job"), parts.state),
    h("p", { class: "muted" }, "Job ", h("code", {}, job.id), ". ",
      job.definition ? ["Runs ", link(`/definitions/${enc(job.definition.split("@")[0])}`, job.definition), ". "] : "", "Started ", when(job.created_at), "."),
    parts.error, parts.controls, parts.locks, parts.approvals, parts.plan,
    h("div", { class: "split" },
      h("section", { "aria-labelledby": "h-source" }, h("h2", { id: "h-source" }, "Source"), parts.source),
      h("section", { "aria-labelledby": "h-graph" }, h("h2", { id: "h-graph" }, "Diagram"), parts.graph)),
    h("section", { "aria-labelledby": "h-steps" }, h("h2", { id: "h-steps" }, "Steps"), parts.timeline),
    h("div", { class: "split" },
      h("section", { "aria-labelledby": "h-log" }, h("h2", { id: "h-log" }, "Events ", parts.connection), parts.log),
      h("section", { "aria-labelledby": "h-fields" }, h("h2", { id: "h-fields" }, "Fields"), parts.fields)));

  const render = () => {
    const states = stepStates(job, live);
    fill(parts.state, badge(job.state), job.dry_run ? h("span", { class: "badge dry", title: "Its calls were answered here; nothing was sent" }, "dry run") : null);
    renderControls(parts.controls, job, reload);
    fill(parts.error, job.error ? h("div", { class: "error", role: "alert" },
      h("strong", {}, job.error.kind), ": ", job.error.message, job.error.line ? ` (line ${job.error.line})` : "") : null);
    renderSource(parts.source, version, states);
    fill(parts.graph, version ? diagram(version.tree, states, isOver(job.state)) : h("p", { class: "muted" }, "No stored definition to draw."));
    renderTimeline(parts.timeline, job);
    if (job.dry_run && isOver(job.state)) renderPlan(parts.plan, id, signal);
    parts.fields.textContent = json(job.fields);
  };
  let pending = null;
  let lastSeq = 0;
  let streaming = false;
  const follow = async () => {
    streaming = true;
    await followEvents(id, lastSeq, (type, data, seq) => {
      if (seq) lastSeq = Math.max(lastSeq, seq);
      if (type === "state") { job = data; live.clear(); render(); return; }
      if (type === "step_started") live.set(data.line, "running");
      if (type === "step_finished") live.set(data.line, data.error ? "failed" : "done");
      // Follow the newest event unless the reader scrolled back.
      const log = parts.log;
      const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
      log.append(eventLine(type, data, seq));
      if (atEnd) log.scrollTop = log.scrollHeight;
      if (type.startsWith("step_") || type === "finished") { render(); soon(); }
    }, signal, (status, error) => {
      const text = { open: "(live)", closed: "(the job is over)", retrying: "(reconnecting…)", error: `(${error?.message})` }[status];
      parts.connection.textContent = text || "";
    });
    streaming = false;
  };
  // After a control (retry, resume, launch) a job that was over runs again:
  // its stream goes on from the last event shown.
  const reload = async () => {
    job = await api("GET", `/v1/jobs/${enc(id)}`, undefined, { signal });
    live.clear();
    render();
    if (!isOver(job.state) && !streaming && !signal.aborted) follow();
  };
  const soon = () => {
    clearTimeout(pending);
    pending = setTimeout(() => reload().catch((e) => signal.aborted || report(e)), 250);
  };
  render();
  follow();
  // The approvals this job waits on, decided here as in the inbox.
  const approvals = async () => {
    const waiting = isOver(job.state) ? [] : (await api("GET", "/v1/approvals", undefined, { signal })).filter((a) => a.job_id === id);
    const key = waiting.map((a) => a.id).join(" ");
    if (parts.approvals.dataset.key === key) return;
    parts.approvals.dataset.key = key;
    fill(parts.approvals, waiting.map((a) => approvalCard(a, reload)));
  };
  every(2000, signal, approvals);
  // The lock keys it holds or waits for (and its place in line).
  const locks = async () => {
    const held = isOver(job.state) ? [] : await api("GET", `/v1/locks?job=${enc(id)}`, undefined, { signal });
    fill(parts.locks, lockNotice(held, id));
  };
  every(2000, signal, locks);
}

function eventLine(type, data, seq) {
  let text;
  switch (type) {
    case "log": text = [h("span", { class: `level ${data.level}` }, data.level), " ", data.message]; break;
    case "progress": text = [data.percent != null ? `${data.percent}% ` : "", data.message]; break;
    case "echo": text = data.text; break;
    case "step_started": text = `${data.participant}.${data.action} (line ${data.line}, attempt ${data.attempt})`; break;
    case "step_finished": text = `${data.participant}.${data.action} ${data.error ? "failed: " + data.error.message : "done"} in ${duration(data.elapsed_ms)}`; break;
    case "step_failed": text = `${data.error.kind}: ${data.error.message}`; break;
    case "finished": text = data.state; break;
    case "planned": text = `would call ${data.capability}: ${planned(data.capability, data.call)}`; break;
    default: text = JSON.stringify(data);
  }
  return h("li", { class: `event ev-${type}` }, h("span", { class: "seq" }, seq ?? ""), h("span", { class: "kind" }, type), h("span", { class: "text" }, text));
}

function renderSource(element, version, states) {
  if (!version) { fill(element, h("p", { class: "muted" }, "This job's definition was given inline.")); return; }
  const lines = version.source.split("\n");
  fill(element, h("pre", { class: "code" }, lines.map((text, i) => {
    const state = states.get(i + 1);
    return h("span", { class: `line ${state ? "step-" + state : ""}`, "data-line": i + 1, title: state || null },
      h("span", { class: "number", "aria-hidden": "true" }, String(i + 1)), text || " ", state ? h("span", { class: "visually-hidden" }, ` (${state})`) : null, "\n");
  })));
}

function renderTimeline(element, job) {
  const steps = (job.history || []).map((s) => ({ ...s, state: s.ok ? "done" : "failed" }));
  for (const r of job.running || []) steps.push({ ...r, started_at: r.since, ended_at: null, state: "running" });
  if (!steps.length) { fill(element, h("p", { class: "muted" }, "No step has run yet.")); return; }
  const start = Math.min(...steps.map((s) => Date.parse(s.started_at)));
  const end = Math.max(...steps.map((s) => (s.ended_at ? Date.parse(s.ended_at) : Date.now())));
  const span = Math.max(end - start, 1);
  fill(element, table(steps, [
    ["Line", (s) => s.line ?? "—"],
    ["Step", (s) => h("code", {}, `${s.participant}.${s.action}`)],
    ["Attempt", (s) => String(s.attempt)],
    ["State", (s) => badge(s.state)],
    ["Took", (s) => duration(between(s.started_at, s.ended_at))],
    ["When", (s) => {
      const left = ((Date.parse(s.started_at) - start) / span) * 100;
      const width = Math.max((((s.ended_at ? Date.parse(s.ended_at) : Date.now()) - Date.parse(s.started_at)) / span) * 100, 0.5);
      return h("div", { class: "bar", title: `${s.started_at} → ${s.ended_at || "now"}` },
        h("span", { class: `fill step-${s.state}`, "data-left": left.toFixed(2), "data-width": width.toFixed(2) }));
    }],
    ["Result", (s) => s.result === undefined ? "" : h("details", {}, h("summary", {}, s.ok ? "fields" : "error"), h("pre", { class: "json" }, json(s.result)))],
  ], { label: "Steps" }));
  // Widths set through the CSSOM: the page's policy allows no inline style attributes.
  for (const bar of element.querySelectorAll(".bar .fill")) {
    bar.style.marginLeft = `${bar.dataset.left}%`;
    bar.style.width = `${bar.dataset.width}%`;
  }
}

/** The controls for the job's state; kept as they are (and what a user
 * typed into them) while the state stays the same. */
function renderControls(element, job, reload) {
  if (element.dataset.state === job.state) return;
  element.dataset.state = job.state;
  const act = (verb, body) => async () => {
    try {
      await api("POST", `/v1/jobs/${enc(job.id)}/${verb}`, body ? body() : undefined);
      say(`Job ${verb === "retry" ? "retried" : verb + (verb.endsWith("e") ? "d" : "ed")}.`);
      await reload();
    } catch (error) { report(error); }
  };
  const buttons = [];
  if (job.state === "pending") buttons.push(h("button", { type: "button", class: "primary", onclick: act("launch") }, "Launch"));
  if (job.state === "running") buttons.push(h("button", { type: "button", onclick: act("pause") }, "Pause"));
  if (job.state === "paused") buttons.push(h("button", { type: "button", onclick: act("resume") }, "Resume"));
  if (!isOver(job.state)) buttons.push(h("button", { type: "button", class: "danger", onclick: act("cancel") }, "Cancel"));
  let retry = null;
  if (job.state === "failed") {
    const editor = h("textarea", { rows: 6, spellcheck: "false", class: "mono" });
    editor.value = json(job.fields);
    const problem = h("div");
    retry = h("form", { class: "card", onsubmit: async (event) => {
      event.preventDefault();
      let fields;
      try { fields = parseObject(editor.value); } catch (error) { report(error, problem); return; }
      await act("retry", () => ({ fields }))();
    } },
    h("h2", {}, "Retry the failed step"),
    field("Fields for the retried step (edit, then retry)", editor),
    problem,
    h("button", { type: "submit", class: "primary" }, "Retry"));
  }
  fill(element, buttons, retry);
}

/** One line for a call a dry run answered. */
function planned(capability, call) {
  if (capability === "http" || capability === "chef") return `${call.method} ${call.url}`;
  if (capability === "ssh") return `${(call.hosts || []).join(", ")}: ${call.command}`;
  if (capability === "ec2") return `${call.action} ${call.region} ${(call.instance_ids || []).join(", ")}`;
  return JSON.stringify(call);
}

/** A dry run's plan: each step and the calls it would have made. */
async function renderPlan(element, id, signal) {
  const plan = await api("GET", `/v1/jobs/${enc(id)}/plan`, undefined, { signal }).catch(() => null);
  if (!plan) return;
  fill(element, h("section", { class: "card", "aria-labelledby": "h-plan" }, h("h2", { id: "h-plan" }, "Plan (dry run: nothing was sent)"),
    table(plan.steps, [
      ["Line", (s) => String(s.line ?? "")],
      ["Step", (s) => `${s.participant}.${s.action}`],
      ["Params", (s) => h("code", {}, JSON.stringify(s.params))],
      ["Would call", (s) => (s.calls.length ? s.calls.map((c) => h("div", {}, `${c.capability} ${planned(c.capability, c.call)}`)) : "—")],
    ], { empty: "No participant step ran.", label: "Plan" })));
}
