// The console's entry: sign-in and the router. Each page is a function
// `(main, params, signal)` that fills `main`; leaving the page aborts
// `signal`, which stops its polling and event streams.

import { api, session, h, fill, field, report, say, signedOut } from "./ui.js";
import { jobsPage, jobPage } from "./jobs.js";
import { definitionsPage, definitionPage } from "./definitions.js";
import { approvalsPage } from "./approvals.js";
import { locksPage } from "./locks.js";
import { webhooksPage } from "./webhooks.js";
import { participantsPage, participantPage, secretsPage, triggersPage, schedulesPage, auditPage, tenantPage } from "./settings.js";

const routes = [
  [/^\/signin(?:\/(.+))?$/, signinPage, { open: true }],
  [/^\/jobs$/, jobsPage],
  [/^\/jobs\/([^/]+)$/, jobPage],
  [/^\/approvals$/, approvalsPage],
  [/^\/locks$/, locksPage],
  [/^\/definitions$/, definitionsPage],
  [/^\/definitions\/new$/, (main, params, signal) => definitionPage(main, [null], signal)],
  [/^\/definitions\/([^/]+)$/, definitionPage],
  [/^\/participants$/, participantsPage],
  [/^\/participants\/([^/]+)$/, participantPage],
  [/^\/secrets$/, secretsPage],
  [/^\/webhooks$/, webhooksPage],
  [/^\/triggers$/, triggersPage],
  [/^\/schedules$/, schedulesPage],
  [/^\/audit$/, auditPage],
  [/^\/tenant$/, tenantPage],
];

let leaving = null;

async function route(event) {
  const main = document.getElementById("main");
  const path = (location.hash.replace(/^#/, "") || "/jobs").split("?")[0];
  leaving?.abort();
  leaving = new AbortController();
  const signal = leaving.signal;
  const found = routes.find(([pattern]) => pattern.test(path));
  if (!found) { fill(main, h("h1", {}, "Not found"), h("p", {}, "No such page. ", h("a", { href: "#/jobs" }, "Jobs"))); return; }
  const [pattern, page, options = {}] = found;
  if (!options.open && !session.token) { location.hash = "#/signin"; return; }
  if (!options.open && !session.me) {
    try { session.me = await api("GET", "/v1/me"); } catch (error) { report(error, main); return; }
  }
  showWho();
  markNav(path);
  const params = pattern.exec(path).slice(1).map((p) => (p === undefined ? undefined : decodeURIComponent(p)));
  fill(main, h("p", { class: "muted" }, "Loading…"));
  try {
    await page(main, params, signal);
  } catch (error) {
    if (!signal.aborted) report(error, main);
  }
  // After a navigation, focus goes to the new page's content (a screen
  // reader reads it; Tab goes on from there); a fresh load starts at the top.
  if (event && !signal.aborted && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

function markNav(path) {
  for (const a of document.querySelectorAll("#nav a")) {
    const here = path === a.getAttribute("href").slice(1) || path.startsWith(a.getAttribute("href").slice(1) + "/");
    if (here) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
}

function showWho() {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  const me = session.me;
  nav.hidden = !me;
  if (!me) { who.replaceChildren(); return; }
  const tenant = me.tenant ? me.tenant.name : "server admin";
  fill(who,
    h("span", { title: `token ${me.token.name}: ${me.token.scopes.join(", ")}` }, tenant),
    h("button", { type: "button", class: "link", onclick: () => { signedOut(); say("Signed out."); } }, "Sign out"));
}

/** `#/signin/TOKEN` exchanges a one-time link; `#/signin` takes a token. */
async function signinPage(main, [linkToken]) {
  session.me = null;
  showWho();
  if (linkToken) {
    // Out of the address bar and the history at once: the link works once.
    history.replaceState(null, "", `${location.pathname}#/signin`);
    fill(main, h("p", {}, "Signing in…"));
    try {
      const answer = await api("POST", "/v1/session", undefined, { token: linkToken });
      session.token = answer.token;
      session.me = answer.me;
      say(`Signed in to ${session.me.tenant ? session.me.tenant.name : "the server"}.`);
      location.hash = "#/jobs";
      return;
    } catch (error) {
      fill(main, h("div", { class: "error", role: "alert" },
        error.status === 401 ? "This sign-in link was used already or has expired. Sign in with a token, or ask for a new link (mastermind tokens create --scope signin)." : error.message));
    }
  } else {
    main.replaceChildren();
  }
  const input = h("input", { type: "password", name: "token", autocomplete: "current-password", required: true, placeholder: "mm_…" });
  const problem = h("div");
  const form = h("form", { class: "card narrow", onsubmit: async (event) => {
    event.preventDefault();
    try {
      session.me = await api("GET", "/v1/me", undefined, { token: input.value.trim() });
      session.token = input.value.trim();
      location.hash = "#/jobs";
    } catch (error) {
      report(error.status === 401 ? new Error("That token is not valid here (unknown or revoked).") : error, problem);
    }
  } },
  h("h1", {}, "Sign in"),
  h("p", {}, "Paste a tenant token. The first start of ", h("code", {}, "mastermind serve"), " printed one, and a one-time sign-in link."),
  field("Token", input),
  problem,
  h("button", { type: "submit", class: "primary" }, "Sign in"));
  main.append(form);
  input.focus();
}

window.addEventListener("hashchange", route);
route();
