// A definition as a diagram: sequences top to bottom, concurrences side by
// side, loops in a box marked ↻, handlers as tags on the step they guard;
// each node coloured by the state of its steps in a job.

import { h } from "./ui.js";

const PARALLEL = new Set(["concurrence", "concurrent_iterator", "concurrent"]);
const LOOPS = new Set(["cursor", "loop", "repeat", "iterator", "concurrent_iterator"]);
const HANDLERS = ["on_error", "on_timeout", "on_cancel"];

/**
 * The state of each definition line that has run in `job`: its latest
 * step's (`done`, `failed`, `running`), then what the event stream
 * reported since (`live`, line -> state).
 */
export function stepStates(job, live = new Map()) {
  const states = new Map();
  for (const step of job.history || []) if (step.line) states.set(step.line, step.ok ? "done" : "failed");
  for (const step of job.running || []) if (step.line) states.set(step.line, "running");
  for (const [line, state] of live) if (line) states.set(line, state);
  return states;
}

function summary(node) {
  const args = (node.args || []).map((a) => (typeof a === "string" ? `'${a}'` : JSON.stringify(a)));
  const attrs = Object.entries(node.attrs || {})
    .filter(([key]) => !HANDLERS.includes(key))
    .map(([key, value]) => `${key}: ${typeof value === "string" ? `'${value}'` : JSON.stringify(value)}`);
  const text = [...args, ...attrs].join(", ");
  return text.length > 60 ? text.slice(0, 57) + "…" : text;
}

/**
 * The state a node shows. A step has its line's; a node that calls no
 * participant (`wait`, `set`...) has none of its own: `waiting`, or
 * `passed` once the job is over. A block shows its steps' together.
 */
function stateOf(node, states, over) {
  if (!node.children || !node.children.length) return states.get(node.line) || (over ? "passed" : "waiting");
  const inner = node.children.map((c) => stateOf(c, states, over)).filter((s) => s !== "passed");
  if (inner.includes("running")) return "running";
  if (states.get(node.line) === "failed" || inner.includes("failed")) return "failed";
  if (inner.length && inner.every((s) => s === "done")) return "done";
  if (inner.includes("done") || inner.includes("partial")) return over ? "done" : "partial";
  return over ? "passed" : "waiting";
}

function render(node, states, over) {
  const state = stateOf(node, states, over);
  const handlers = HANDLERS.filter((k) => node.attrs && node.attrs[k] !== undefined)
    .map((k) => h("span", { class: "handler", title: `${k}: ${JSON.stringify(node.attrs[k])}` }, `${k.replace("on_", "on ")} → ${typeof node.attrs[k] === "string" ? node.attrs[k] : JSON.stringify(node.attrs[k])}`));
  const label = h("div", { class: "label" },
    LOOPS.has(node.name) ? h("span", { class: "loop", "aria-label": "loop" }, "↻ ") : null,
    h("strong", {}, node.name), " ", h("span", { class: "args" }, summary(node)),
    node.line ? h("span", { class: "where" }, ` :${node.line}`) : null,
    h("span", { class: "visually-hidden" }, ` (${state})`));
  if (!node.children || !node.children.length) {
    return h("li", { class: `node step state-${state}`, "data-line": node.line || null }, label, handlers);
  }
  const layout = PARALLEL.has(node.name) ? "parallel" : "serial";
  return h("li", { class: `node block state-${state} ${layout}`, "data-line": node.line || null },
    label, handlers,
    h("ol", { class: `children ${layout}` }, node.children.map((c) => render(c, states, over))));
}

/**
 * The diagram of a definition's tree (as the API returns it), coloured by
 * `states` (see `stepStates`); `over`: the job has ended.
 */
export function diagram(tree, states, over = false) {
  let root = tree.root || tree;
  // The implicit definition around a single block adds nothing to draw.
  while (root.children && root.children.length === 1 && root.children[0].line === root.line && root.children[0].children?.length) root = root.children[0];
  return h("ol", { class: "diagram", "aria-label": "The definition as a diagram" }, render(root, states, over));
}
