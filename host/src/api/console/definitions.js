// Definitions: the list, and a definition's page — its versions with a
// diff between any two, an editor that validates as you type (the API's
// own line, column and caret messages), and a launch form.

import { api, h, fill, table, say, report, when, parseObject, field, link, enc } from "./ui.js";
import { diagram } from "./graph.js";

export async function definitionsPage(main, _params, signal) {
  const list = await api("GET", "/v1/definitions", undefined, { signal });
  fill(main,
    h("div", { class: "heading" }, h("h1", {}, "Definitions"), h("a", { class: "button primary", href: "#/definitions/new" }, "New definition")),
    table(list, [
      ["Name", (d) => link(`/definitions/${enc(d.name)}`, d.name)],
      ["Latest", (d) => `v${d.latest_version}`],
      ["Updated", (d) => when(d.updated_at)],
      ["", (d) => link(`/definitions/${enc(d.name)}?launch`, "Launch…")],
    ], { empty: "No definitions yet: write one with “New definition”.", label: "Definitions" }));
}

const STARTER = `sequence do
  echo_echo message: 'hello \${who}'
  set 'f:done' => true
end
`;

export async function definitionPage(main, [name], signal) {
  const detail = name ? await api("GET", `/v1/definitions/${enc(name)}`, undefined, { signal }) : null;
  const nameInput = h("input", { name: "name", required: true, pattern: "[A-Za-z0-9_.\\-]{1,100}", value: name || "", readonly: !!name, autocomplete: "off" });
  const editor = h("textarea", { name: "source", rows: 16, spellcheck: "false", class: "mono", "aria-describedby": "validation" });
  editor.value = detail ? detail.latest.source : STARTER;
  const validation = h("div", { id: "validation", class: "validation", "aria-live": "polite" });
  const preview = h("div", { class: "graph" });
  let timer = null;
  let checked = 0;
  const validate = async () => {
    const mine = ++checked;
    try {
      const result = await api("POST", "/v1/definitions/validate", { source: editor.value }, { signal });
      if (mine !== checked) return;
      if (result.valid) {
        fill(validation, h("p", { class: "ok" }, "✓ Valid."));
        editor.removeAttribute("aria-invalid");
      } else {
        editor.setAttribute("aria-invalid", "true");
        fill(validation, h("pre", { class: "problems", role: "alert" }, result.rendered || result.diagnostics.map((d) => `line ${d.line}, column ${d.column}: ${d.message}`).join("\n")));
      }
    } catch (error) { if (!signal.aborted) report(error, validation); }
  };
  editor.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(validate, 300); });
  const pushed = h("div");
  const save = h("form", { class: "card", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const version = await api("POST", "/v1/definitions", { name: nameInput.value.trim(), source: editor.value });
      say(`Saved ${version.name}@${version.version}.`);
      if (!name) { location.hash = `#/definitions/${enc(version.name)}`; return; }
      await definitionPage(main, [name], signal);
    } catch (error) {
      report(error, pushed);
      if (error.details?.rendered) pushed.append(h("pre", { class: "problems" }, error.details.rendered));
    }
  } },
  h("h2", {}, name ? "Edit (saves a new version)" : "New definition"),
  field("Name", nameInput),
  field("Source", editor),
  validation, pushed,
  h("button", { type: "submit", class: "primary" }, name ? "Save new version" : "Save"));

  fill(main, h("div", { class: "heading" }, h("h1", {}, name || "New definition"), detail ? h("span", { class: "muted" }, `v${detail.latest.version}`) : null));
  if (detail) {
    main.append(launchForm(detail), versionsSection(name, detail, signal),
      h("section", { "aria-labelledby": "h-diagram" }, h("h2", { id: "h-diagram" }, "Diagram"), preview));
    fill(preview, diagram(detail.latest.tree, new Map()));
  }
  main.append(save);
  if (location.hash.endsWith("?launch")) main.querySelector("#launch-fields")?.focus();
  validate();
}

function launchForm(detail) {
  const fields = h("textarea", { id: "launch-fields", rows: 4, spellcheck: "false", class: "mono" });
  fields.value = "{}";
  const version = h("select", {}, detail.versions.slice().reverse().map((v) => h("option", { value: v.version }, `v${v.version}`)));
  const dry = h("input", { type: "checkbox", id: "launch-dry-run" });
  const problem = h("div");
  return h("form", { class: "card", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const job = await api("POST", "/v1/jobs", { definition: detail.name, version: Number(version.value), fields: parseObject(fields.value), dry_run: dry.checked });
      say("Job launched.");
      location.hash = `#/jobs/${enc(job.id)}`;
    } catch (error) { report(error, problem); }
  } },
  h("h2", {}, "Launch a job"),
  h("div", { class: "row" }, field("Version", version), field("Fields (JSON object)", fields)),
  h("label", { for: "launch-dry-run" }, dry, " Dry run: answer every HTTP, SSH, EC2 and Chef call here and send nothing"),
  problem,
  h("button", { type: "submit", class: "primary" }, "Launch"));
}

function versionsSection(name, detail, signal) {
  const numbers = detail.versions.map((v) => v.version).sort((a, b) => a - b);
  const from = h("select", { name: "from" }, numbers.map((n) => h("option", { value: n, selected: n === numbers[Math.max(numbers.length - 2, 0)] }, `v${n}`)));
  const to = h("select", { name: "to" }, numbers.map((n) => h("option", { value: n, selected: n === numbers[numbers.length - 1] }, `v${n}`)));
  const output = h("div");
  const show = async (event) => {
    event?.preventDefault();
    try {
      const [a, b] = await Promise.all([from.value, to.value].map((v) => api("GET", `/v1/definitions/${enc(name)}/versions/${v}`, undefined, { signal })));
      fill(output, diffView(a.source, b.source, `v${a.version}`, `v${b.version}`));
    } catch (error) { report(error, output); }
  };
  return h("section", { "aria-labelledby": "h-versions" },
    h("h2", { id: "h-versions" }, "Versions"),
    table(detail.versions.slice().reverse(), [["Version", (v) => `v${v.version}`], ["Saved", (v) => when(v.created_at)], ["By", (v) => v.created_by || "—"]], { label: "Versions" }),
    numbers.length > 1 ? h("form", { class: "row", onsubmit: show }, field("From", from), field("To", to), h("button", { type: "submit" }, "Show the difference")) : null,
    output);
}

/** A line diff (longest common subsequence): enough for definitions. */
export function diffLines(a, b) {
  const x = a.split("\n"), y = b.split("\n");
  const n = x.length, m = y.length;
  if (n * m > 4e6) return [...x.map((t) => ["-", t]), ...y.map((t) => ["+", t])];
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push([" ", x[i]]); i++; j++; } else if (lcs[i + 1][j] >= lcs[i][j + 1]) out.push(["-", x[i++]]); else out.push(["+", y[j++]]);
  }
  while (i < n) out.push(["-", x[i++]]);
  while (j < m) out.push(["+", y[j++]]);
  return out;
}

function diffView(a, b, left, right) {
  const lines = diffLines(a, b);
  if (lines.every(([k]) => k === " ")) return h("p", { class: "muted" }, `${left} and ${right} are the same.`);
  return h("pre", { class: "code diff", "aria-label": `Changes from ${left} to ${right}` },
    h("span", { class: "line meta" }, `--- ${left}\n+++ ${right}\n`),
    lines.map(([kind, text]) => h("span", { class: `line ${kind === "+" ? "added" : kind === "-" ? "removed" : ""}` }, `${kind} ${text}\n`)));
}

