// The approvals inbox: every approval waiting in the tenant's jobs, each
// with its form, approved or rejected with a comment.

import { api, h, fill, say, report, when, link, enc, every } from "./ui.js";

export async function approvalsPage(main, _params, signal) {
  const list = h("div");
  fill(main, h("h1", {}, "Approvals"),
    h("p", { class: "muted" }, "Jobs waiting on a person. A token with the approve or admin scope decides; an approval that names its approvers takes only theirs."),
    list);
  const refresh = async () => {
    const waiting = await api("GET", "/v1/approvals", undefined, { signal });
    // Keep a form someone is filling in: only redraw when the set changes.
    const key = waiting.map((a) => `${a.job_id}/${a.id}`).join(" ");
    if (list.dataset.key === key) return;
    list.dataset.key = key;
    fill(list, waiting.length ? waiting.map((a) => approvalCard(a, refresh)) : h("p", { class: "muted" }, "Nothing is waiting for a decision."));
  };
  await refresh();
  every(3000, signal, refresh);
}

/** One approval, with its form and the two decisions. */
export function approvalCard(approval, done) {
  const inputs = Object.entries(approval.form || {}).map(([name, type]) => {
    const input = type === "boolean" ? h("input", { type: "checkbox", name })
      : h("input", { name, type: type === "integer" || type === "number" ? "number" : "text", step: type === "number" ? "any" : null, required: true });
    input.dataset.type = type;
    const id = `a-${approval.id}-${name}`.replace(/[^A-Za-z0-9_-]/g, "_");
    input.id = id;
    return h("div", { class: "field" }, h("label", { for: id }, `${name} (${type})`), input);
  });
  const comment = h("input", { name: "comment", type: "text", id: `c-${approval.id}`.replace(/[^A-Za-z0-9_-]/g, "_") });
  const problem = h("div");
  const path = `/v1/approvals/${enc(approval.job_id)}/${enc(approval.id)}`;
  const send = async (verb) => {
    const fields = {};
    if (verb === "approve") {
      for (const input of inputs.map((d) => d.querySelector("input"))) {
        const type = input.dataset.type;
        fields[input.name] = type === "boolean" ? input.checked : type === "integer" ? parseInt(input.value, 10) : type === "number" ? Number(input.value) : input.value;
      }
    }
    try {
      await api("POST", `${path}/${verb}`, { comment: comment.value.trim() || null, fields });
      say(verb === "approve" ? "Approved." : "Rejected.");
      await done();
    } catch (error) { report(error, problem); }
  };
  return h("form", { class: "card approval", onsubmit: (event) => { event.preventDefault(); send("approve"); } },
    h("h2", {}, approval.prompt),
    h("p", { class: "muted" }, "Job ", link(`/jobs/${enc(approval.job_id)}`, approval.job_name || approval.job_id.slice(-12)),
      approval.definition ? ` (${approval.definition}, line ${approval.line})` : "", ", asked ", when(approval.requested_at), ". ",
      deciders(approval)),
    inputs,
    h("div", { class: "field" }, h("label", { for: comment.id }, "Comment"), comment),
    problem,
    h("div", { class: "controls" },
      h("button", { type: "submit", class: "primary" }, "Approve"),
      h("button", { type: "button", class: "danger", onclick: () => send("reject") }, "Reject")));
}

/** Who may decide: named tokens and groups, or any approver. */
function deciders(approval) {
  const who = [...approval.approvers, ...(approval.groups || []).map((g) => `group ${g}`)];
  return who.length ? `Decided by: ${who.join(", ")}.` : "Any approver decides.";
}
