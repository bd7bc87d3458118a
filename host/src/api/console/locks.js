// Locks: who holds each of the tenant's keys (`lock 'deploy-prod' do`),
// and who waits, in the order they will get in.

import { api, h, fill, when, link, enc, every } from "./ui.js";

export async function locksPage(main, _params, signal) {
  const list = h("div");
  fill(main, h("h1", {}, "Locks"),
    h("p", { class: "muted" }, "Keys held by a lock block of a running job. Waiters get in first come, first served; cancelling the holding job lets the next one in."),
    list);
  const refresh = async () => {
    const locks = await api("GET", "/v1/locks", undefined, { signal });
    fill(list, locks.length ? locks.map(lockCard) : h("p", { class: "muted" }, "No key is held."));
  };
  await refresh();
  every(2000, signal, refresh);
}

function lockCard(lock) {
  const row = (p, state, since) => h("tr", {},
    h("td", {}, state),
    h("td", {}, link(`/jobs/${enc(p.job_id)}`, p.job_id.slice(-12))),
    h("td", {}, `line ${p.line}`),
    h("td", {}, String(p.limit)),
    h("td", {}, when(since)));
  return h("section", { class: "card" },
    h("h2", {}, h("code", {}, lock.key)),
    h("table", {},
      h("thead", {}, h("tr", {}, ["State", "Job", "Step", "Limit", "Since"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {},
        lock.holders.map((p) => row(p, "holds", p.held_since)),
        lock.waiting.map((p) => row(p, `waits (#${p.position})`, p.requested_at)))));
}

/** What the job holds or waits for, in a sentence per key (empty when nothing). */
export function lockNotice(locks, jobId) {
  return locks.flatMap((lock) => {
    const mine = lock.waiting.find((p) => p.job_id === jobId);
    if (mine) {
      const holder = lock.holders[0];
      return [h("p", { class: "notice" }, "Waiting for the lock ", h("code", {}, lock.key),
        ` (#${mine.position} in line`, holder ? [", held by job ", link(`/jobs/${enc(holder.job_id)}`, holder.job_id.slice(-12))] : "", ").")];
    }
    return lock.holders.some((p) => p.job_id === jobId) ? [h("p", { class: "muted" }, "Holds the lock ", h("code", {}, lock.key), ".")] : [];
  });
}
