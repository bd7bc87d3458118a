// Webhooks: where the tenant's job ends and pending approvals are posted,
// and each one's latest deliveries.

import { api, h, fill, table, say, report, when, field, enc } from "./ui.js";

const EVENTS = ["job.completed", "job.failed", "job.canceled", "approval.pending"];

export async function webhooksPage(main, _params, signal) {
  const list = await api("GET", "/v1/webhooks", undefined, { signal });
  const name = h("input", { name: "name", required: true, pattern: "[A-Za-z0-9_.\\-]{1,100}", autocomplete: "off" });
  const url = h("input", { name: "url", type: "url", autocomplete: "off", placeholder: "https://hooks.example.com/…" });
  const secret = h("input", { name: "url_secret", autocomplete: "off", placeholder: "or a secret holding the URL" });
  const boxes = EVENTS.map((e) => h("input", { type: "checkbox", name: e, checked: true, id: `ev-${e}` }));
  const every = h("input", { type: "checkbox", name: "every_job", id: "every-job" });
  const problem = h("div");
  const deliveries = h("div");
  const reload = () => webhooksPage(main, [], signal);
  fill(main,
    h("h1", {}, "Webhooks"),
    h("p", { class: "muted" }, "Posted (Slack-compatible JSON) when a job ends or an approval waits: every job's, or the jobs whose definition names the webhook with notify:. Delivery is retried and never holds a job back. A URL's path is never shown; keep a credential URL in a secret."),
    table(list, [
      ["Name", (w) => h("code", {}, w.name)],
      ["Posts to", (w) => w.url || `secret ${w.url_secret}`],
      ["Events", (w) => w.events.join(" ")],
      ["For", (w) => (w.every_job ? "every job" : "jobs naming it")],
      ["", (w) => h("button", { type: "button", class: "small", onclick: () => showDeliveries(w.name, deliveries, signal) }, "Deliveries")],
      ["", (w) => h("button", { type: "button", class: "danger small", "aria-label": `Remove ${w.name}`, onclick: async () => {
        try { await api("DELETE", `/v1/webhooks/${enc(w.name)}`); say(`Removed ${w.name}.`); await reload(); } catch (error) { report(error); }
      } }, "Remove")],
    ], { empty: "No webhooks.", label: "Webhooks" }),
    deliveries,
    h("form", { class: "card", onsubmit: async (event) => {
      event.preventDefault();
      const body = {
        url: url.value.trim() || null,
        url_secret: secret.value.trim() || null,
        events: EVENTS.filter((_, i) => boxes[i].checked),
        every_job: every.checked,
      };
      try { await api("PUT", `/v1/webhooks/${enc(name.value.trim())}`, body); say(`Set ${name.value.trim()}.`); await reload(); } catch (error) { report(error, problem); }
    } }, h("h2", {}, "Set a webhook"),
      h("div", { class: "row" }, field("Name", name), field("URL", url), field("URL secret", secret)),
      h("fieldset", {}, h("legend", {}, "Events"),
        EVENTS.map((e, i) => h("label", { for: `ev-${e}` }, boxes[i], ` ${e} `))),
      h("label", { for: "every-job" }, every, " every job of the tenant"),
      problem, h("button", { type: "submit", class: "primary" }, "Set")));
}

async function showDeliveries(name, target, signal) {
  try {
    const list = await api("GET", `/v1/webhooks/${enc(name)}/deliveries`, undefined, { signal });
    fill(target, h("section", { class: "card" }, h("h2", {}, `Deliveries of ${name}`),
      table(list, [
        ["Event", (d) => d.event],
        ["Job", (d) => h("a", { href: `#/jobs/${enc(d.job_id)}` }, d.job_id.slice(-12))],
        ["Status", (d) => d.status],
        ["Tries", (d) => String(d.attempts)],
        ["At", (d) => when(d.created_at)],
        ["Last error", (d) => d.last_error || ""],
      ], { empty: "Nothing was posted yet.", label: `Deliveries of ${name}` })));
  } catch (error) { report(error); }
}
