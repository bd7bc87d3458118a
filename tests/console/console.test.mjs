// The console in a real browser: Debian's Chromium, driven by
// playwright-core, against the `mastermind serve` that tests/console.rs
// started (its address, first-start sign-in link and token come in the
// environment). Run by `cargo test --test console`; alone:
//   MM_URL=... MM_SIGNIN_URL=... MM_TOKEN=... MM_WASM=... node --test tests/console/
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const { MM_URL, MM_SIGNIN_URL, MM_TOKEN, MM_WASM, MM_SCREENSHOTS } = process.env;
const CHROMIUM = process.env.MASTERMIND_CHROMIUM || "/usr/bin/chromium";
const WAIT = { timeout: 20000 };

let browser, context, page;
const consoleErrors = [];

before(async () => {
  assert.ok(MM_URL && MM_SIGNIN_URL && MM_TOKEN && MM_WASM, "run through tests/console.rs");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // As root on a machine with no network beyond loopback: no sandbox,
    // and none of Chromium's own background connections.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-default-apps"],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
});

after(async () => { await browser?.close(); });

async function shot(name) {
  if (!MM_SCREENSHOTS) return;
  await page.evaluate(() => document.getElementById("status").replaceChildren());
  await page.screenshot({ path: `${MM_SCREENSHOTS}/${name}.png`, fullPage: false });
}

/** Pushes a definition through the editor and answers its name. */
async function pushDefinition(name, source) {
  await page.goto(`${MM_URL}/#/definitions/new`);
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Source").fill(source);
  await page.getByText("✓ Valid.").waitFor(WAIT);
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.getByRole("heading", { name, exact: true }).waitFor(WAIT);
  return name;
}

async function launch(name, fields) {
  await page.goto(`${MM_URL}/#/definitions/${name}`);
  await page.locator("#launch-fields").fill(JSON.stringify(fields));
  await page.getByRole("button", { name: "Launch", exact: true }).click();
  await page.waitForURL(/#\/jobs\/[^/]+$/, WAIT);
  return page.url().split("/").pop();
}

async function jobState(expected) {
  await page.locator(".heading .badge", { hasText: new RegExp(`^${expected}$`) }).waitFor(WAIT);
}

test("the one-time sign-in link signs in once", async () => {
  await page.goto(MM_SIGNIN_URL);
  await page.getByRole("heading", { name: "Jobs" }).waitFor(WAIT);
  assert.ok(!page.url().includes("mm_"), `the token stays out of the address bar: ${page.url()}`);
  await page.getByRole("navigation", { name: "Sections" }).waitFor(WAIT);
  assert.match(await page.locator("#who").innerText(), /default/);
  await shot("jobs-empty");
  // The same link in another browser: refused.
  const other = await browser.newContext();
  const second = await other.newPage();
  await second.goto(MM_SIGNIN_URL);
  await second.getByText(/used already or has expired/).waitFor(WAIT);
  await other.close();
});

test("signing in with a token, and a wrong token's error", async () => {
  const other = await browser.newContext();
  const p = await other.newPage();
  await p.goto(`${MM_URL}/`);
  await p.getByRole("heading", { name: "Sign in" }).waitFor(WAIT);
  await p.getByLabel("Token").fill("mm_not_a_real_token_at_all_00000000000");
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.getByText(/not valid here/).first().waitFor(WAIT);
  await p.getByLabel("Token").fill(MM_TOKEN);
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.getByRole("heading", { name: "Jobs" }).waitFor(WAIT);
  await other.close();
});

test("the editor shows a definition's error with line, column and caret as you type", async () => {
  await page.goto(`${MM_URL}/#/definitions/new`);
  await page.getByLabel("Name").fill("broken");
  await page.getByLabel("Source").fill("sequence do\n  echo_echo message: 'hi\nend\n");
  const problems = page.locator(".validation .problems");
  await problems.waitFor(WAIT);
  const text = await problems.innerText();
  assert.match(text, /2:\d+/, text);
  assert.match(text, /\^/, text);
  assert.equal(await page.getByLabel("Source").getAttribute("aria-invalid"), "true");
  await shot("definition-error");
  await page.getByLabel("Source").fill("sequence do\n  echo_echo message: 'hi'\nend\n");
  await page.getByText("✓ Valid.").waitFor(WAIT);
});

test("a launched job's steps go green live, with its log", async () => {
  await pushDefinition("hello", [
    "sequence do",
    "  echo_echo message: 'hello ${who}'",
    "  wait '1s'",
    "  echo 'halfway for ${who}'",
    "  merge_echo done: true",
    "end",
    "",
  ].join("\n"));
  const id = await launch("hello", { who: "world" });
  // Live: the first step is marked done while the job still runs (it waits a second).
  await page.locator('.code .line.step-done[data-line="2"]').waitFor(WAIT);
  await page.locator(".events .ev-echo", { hasText: "halfway for world" }).waitFor(WAIT);
  await jobState("completed");
  await page.locator('.code .line.step-done[data-line="5"]').waitFor(WAIT);
  await page.locator(".events .ev-log", { hasText: "hello world" }).waitFor(WAIT);
  assert.match(await page.locator("#fields").innerText(), /"done": true/);
  assert.equal(await page.locator(".diagram .step.state-done").count(), 2);
  await shot("job-completed");
  // The list shows it.
  await page.goto(`${MM_URL}/#/jobs`);
  await page.locator(`a[href="#/jobs/${id}"]`).waitFor(WAIT);
});

test("a failed step is retried with an edited field", async () => {
  await pushDefinition("repeat", "sequence do\n  echo_echo message: 'ab', times: '$f:times'\nend\n");
  await launch("repeat", { times: 5000 });
  await jobState("failed");
  await page.locator(".error", { hasText: "at most 1000" }).first().waitFor(WAIT);
  await page.locator('.code .line.step-failed[data-line="2"]').waitFor(WAIT);
  await shot("job-failed");
  const editor = page.getByLabel("Fields for the retried step (edit, then retry)");
  const fields = JSON.parse(await editor.inputValue());
  assert.equal(fields.times, 5000);
  await editor.fill(JSON.stringify({ ...fields, times: 3 }));
  await page.getByRole("button", { name: "Retry" }).click();
  await jobState("completed");
  await page.locator("#fields", { hasText: '"echo": "ababab"' }).waitFor(WAIT);
});

test("a running job is cancelled", async () => {
  await pushDefinition("long", "sequence do\n  echo 'started'\n  wait '1h'\nend\n");
  await launch("long", {});
  await jobState("running");
  await page.locator(".events .ev-echo", { hasText: "started" }).waitFor(WAIT);
  await page.getByRole("button", { name: "Cancel" }).click();
  await jobState("canceled");
});

test("an approval is decided in the inbox, with its form", async () => {
  await pushDefinition("gated", "sequence do\n  approval 'Ship ${v}?', form: { ticket: 'integer' }\n  echo_echo message: 'shipped ticket ${ticket}'\nend\n");
  const id = await launch("gated", { v: "3.1" });
  // The job page shows what it waits on.
  await page.locator(".approval h2", { hasText: "Ship 3.1?" }).waitFor(WAIT);
  await page.goto(`${MM_URL}/#/approvals`);
  const card = page.locator(".approval", { hasText: "Ship 3.1?" });
  await card.waitFor(WAIT);
  await card.getByLabel("ticket (integer)").fill("42");
  await card.getByLabel("Comment").fill("ship it");
  await shot("approvals");
  await card.getByRole("button", { name: "Approve" }).click();
  await page.getByText("Nothing is waiting for a decision.").waitFor(WAIT);
  await page.goto(`${MM_URL}/#/jobs/${id}`);
  await jobState("completed");
  await page.locator("#fields", { hasText: '"ticket": 42' }).waitFor(WAIT);
  await page.locator("#fields", { hasText: '"comment": "ship it"' }).waitFor(WAIT);
});

test("a job waiting for a lock says for which key and its place; the Locks page lists both", async () => {
  await pushDefinition("locked", "lock 'deploy-${env}' do\n  wait '${pause}'\nend\n");
  const holder = await launch("locked", { env: "prod", pause: "1h" });
  await jobState("running");
  await page.getByText("Holds the lock").waitFor(WAIT);
  const waiter = await launch("locked", { env: "prod", pause: "1s" });
  const notice = page.locator(".notice", { hasText: "Waiting for the lock" });
  await notice.waitFor(WAIT);
  assert.match(await notice.innerText(), /deploy-prod \(#1 in line, held by job/);
  await page.goto(`${MM_URL}/#/locks`);
  const card = page.locator(".card", { hasText: "deploy-prod" });
  await card.locator("tr", { hasText: "holds" }).waitFor(WAIT);
  await card.locator("tr", { hasText: "waits (#1)" }).waitFor(WAIT);
  await shot("locks");
  // Cancelling the holder lets the waiter in; it completes.
  await page.goto(`${MM_URL}/#/jobs/${holder}`);
  await page.getByRole("button", { name: "Cancel" }).click();
  await jobState("canceled");
  await page.goto(`${MM_URL}/#/jobs/${waiter}`);
  await jobState("completed");
});

test("a participant is uploaded with grants, and its actions are shown", async () => {
  await page.goto(`${MM_URL}/#/participants`);
  await page.getByRole("link", { name: "echo", exact: true }).waitFor(WAIT);
  await page.getByLabel("Component (.wasm, wasm32-wasip2)").setInputFiles(MM_WASM);
  await page.getByLabel("Grants, one per line").fill("http=api.example.com");
  await page.getByRole("button", { name: "Upload" }).click();
  await page.getByRole("link", { name: "tester", exact: true }).waitFor(WAIT);
  await page.getByRole("link", { name: "tester", exact: true }).click();
  await page.getByRole("heading", { name: "tester", exact: true }).waitFor(WAIT);
  await page.getByText("http=api.example.com").waitFor(WAIT);
  await page.getByRole("heading", { name: /fail_tester/ }).waitFor(WAIT);
  // A loopback grant is refused by this server (it runs without --allow-private-grants).
  await page.goto(`${MM_URL}/#/participants`);
  await page.getByLabel("Component (.wasm, wasm32-wasip2)").setInputFiles(MM_WASM);
  await page.getByLabel("Grants, one per line").fill("http=127.0.0.1");
  await page.getByRole("button", { name: "Upload" }).click();
  await page.locator("form .error").waitFor(WAIT);
  assert.match(await page.locator("form .error").innerText(), /allow-private-grants|private|loopback/);
});

test("definitions keep versions, with a diff between two", async () => {
  await page.goto(`${MM_URL}/#/definitions/hello`);
  await page.getByLabel("Source").fill("sequence do\n  echo_echo message: 'bonjour ${who}'\nend\n");
  await page.getByText("✓ Valid.").waitFor(WAIT);
  await page.getByRole("button", { name: "Save new version" }).click();
  await page.locator(".heading .muted", { hasText: "v2" }).waitFor(WAIT);
  await page.getByRole("button", { name: "Show the difference" }).click();
  await page.locator(".diff .removed", { hasText: "hello ${who}" }).waitFor(WAIT);
  await page.locator(".diff .added", { hasText: "bonjour ${who}" }).waitFor(WAIT);
  await shot("definition-diff");
});

test("secrets, triggers, schedules, the audit log and the tenant's limits", async () => {
  await page.goto(`${MM_URL}/#/secrets`);
  await page.getByLabel("Name").fill("api_token");
  await page.getByLabel("Value").fill("s3cr3t-value-never-shown");
  await page.getByRole("button", { name: "Set" }).click();
  await page.locator("td code", { hasText: "api_token" }).waitFor(WAIT);
  assert.ok(!(await page.content()).includes("s3cr3t-value-never-shown"), "a secret's value is never shown");

  await page.goto(`${MM_URL}/#/triggers`);
  await page.getByRole("button", { name: "Make" }).click();
  const url = await page.locator(".once code").innerText(WAIT);
  assert.match(url, /\/hooks\//);
  await page.reload();
  await page.getByRole("cell", { name: "payload" }).waitFor(WAIT);
  assert.equal(await page.locator(".once").count(), 0, "the URL is shown once");

  await page.goto(`${MM_URL}/#/schedules`);
  await page.getByLabel(/Cron/).fill("0 3 * * *");
  await page.getByRole("button", { name: "Schedule", exact: true }).click();
  await page.getByRole("cell", { name: "0 3 * * *" }).waitFor(WAIT);

  await page.goto(`${MM_URL}/#/audit`);
  await page.getByRole("cell", { name: /secret api_token/ }).waitFor(WAIT);

  await page.goto(`${MM_URL}/#/tenant`);
  await page.getByRole("cell", { name: "max_concurrent_calls" }).waitFor(WAIT);
});

test("a webhook is set, a job's end is posted to it, and its deliveries are listed", async () => {
  await page.goto(`${MM_URL}/#/webhooks`);
  await page.getByLabel("Name").fill("team");
  await page.getByLabel("URL", { exact: true }).fill(`${MM_URL}/not-a-receiver`);
  await page.getByLabel("every job of the tenant").check();
  await page.getByRole("button", { name: "Set", exact: true }).click();
  await page.locator("td code", { hasText: "team" }).waitFor(WAIT);
  assert.ok(!(await page.content()).includes("not-a-receiver"), "a URL's path is never shown");
  await pushDefinition("hooked", "echo 'hi'\n");
  await launch("hooked", {});
  await jobState("completed");
  await page.goto(`${MM_URL}/#/webhooks`);
  await page.getByRole("button", { name: "Deliveries" }).click();
  await page.getByRole("cell", { name: "job.completed", exact: true }).waitFor(WAIT);
  await shot("webhooks");
});

test("a dry run is launched from the form, marked as such, and its plan shown", async () => {
  await pushDefinition("rehearsal", "echo_echo message: 'rehearse'\n");
  await page.goto(`${MM_URL}/#/definitions/rehearsal`);
  await page.getByLabel(/Dry run/).check();
  await page.getByRole("button", { name: "Launch", exact: true }).click();
  await page.waitForURL(/#\/jobs\/[^/]+$/, WAIT);
  await jobState("completed");
  await page.locator(".heading .badge.dry", { hasText: "dry run" }).waitFor(WAIT);
  await page.getByRole("heading", { name: /^Plan \(dry run/ }).waitFor(WAIT);
  await page.getByRole("table", { name: "Plan" }).getByRole("cell", { name: "echo.echo", exact: true }).waitFor(WAIT);
});

test("keyboard only: skip link, navigation and a form", async () => {
  await page.goto(`${MM_URL}/#/jobs`);
  await page.reload();
  await page.getByRole("heading", { name: "Jobs" }).waitFor(WAIT);
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
  // Tab to the Definitions link and follow it with Enter.
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press("Tab");
    if ((await page.evaluate(() => document.activeElement.textContent)) === "Definitions") break;
  }
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Definitions" }).waitFor(WAIT);
});

test("a phone-sized screen has no sideways scrolling", async () => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const p = await phone.newPage();
  await p.goto(`${MM_URL}/`);
  await p.evaluate((token) => localStorage.setItem("mastermind.token", token), MM_TOKEN);
  for (const path of ["#/jobs", "#/definitions/hello", "#/participants", "#/tenant"]) {
    await p.goto(`${MM_URL}/${path}`);
    await p.locator("main h1").waitFor(WAIT);
    await p.waitForTimeout(300);
    const [scroll, width] = await p.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(scroll <= width + 1, `${path}: the page is ${scroll}px wide on a ${width}px screen`);
  }
  if (MM_SCREENSHOTS) {
    const jobs = await p.evaluate(() => fetch("/v1/jobs?state=completed&limit=1", { headers: { Authorization: `Bearer ${localStorage.getItem("mastermind.token")}` } }).then((r) => r.json()));
    await p.goto(`${MM_URL}/#/jobs/${jobs.jobs[0].id}`);
    await p.locator(".heading .badge").waitFor(WAIT);
    await p.screenshot({ path: `${MM_SCREENSHOTS}/phone-job.png` });
  }
  await phone.close();
});

test("no script errors on any page", () => {
  const real = consoleErrors.filter((e) => !/401|403|404|Failed to load resource/.test(e));
  assert.deepEqual(real, []);
});
