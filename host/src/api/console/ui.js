// What every page of the console shares: the API client (the signed-in
// token, errors as the API words them), the event stream reader, element
// building and formatting.
//
// Elements are built with `h` and text nodes only, never from HTML
// strings: nothing a job, a field or a participant says can become markup.

const TOKEN_KEY = "mastermind.token";

export const session = {
  get token() { return localStorage.getItem(TOKEN_KEY); },
  set token(value) {
    if (value) localStorage.setItem(TOKEN_KEY, value); else localStorage.removeItem(TOKEN_KEY);
  },
  me: null,
};

/** An error the API answered with: its status, code and message. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

async function errorOf(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  const e = body && body.error;
  if (e) return new ApiError(response.status, e.code, e.message, e.details);
  return new ApiError(response.status, "http", `${response.status} ${response.statusText}`);
}

/** Calls the API with the signed-in token (or `token`); JSON in and out. */
export async function api(method, path, body, { token, signal, text } = {}) {
  const headers = { Authorization: `Bearer ${token || session.token}` };
  let payload;
  if (text !== undefined) {
    headers["Content-Type"] = "text/plain";
    payload = text;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, signal });
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401 && !token) signedOut();
    throw error;
  }
  if (response.status === 204) return null;
  return response.json();
}

/** The token was refused: back to the sign-in page. */
export function signedOut() {
  session.token = null;
  session.me = null;
  if (!location.hash.startsWith("#/signin")) location.hash = "#/signin";
}

/**
 * Reads a job's event stream (Server-Sent Events over fetch, so the token
 * goes in a header), reconnecting after a failure from the last event
 * seen (`Last-Event-ID`): no event is lost or shown twice. Starts after
 * event number `after` (0: from the first). Ends when the server ends the
 * stream (the job is over) or `signal` aborts.
 */
export async function followEvents(jobId, after, onEvent, signal, onConnection = () => {}) {
  let last = after;
  let delay = 500;
  let over = false;
  while (!signal.aborted && !over) {
    try {
      const headers = { Authorization: `Bearer ${session.token}` };
      if (last > 0) headers["Last-Event-ID"] = String(last);
      const response = await fetch(`/v1/jobs/${encodeURIComponent(jobId)}/events`, { headers, signal });
      if (!response.ok) {
        const error = await errorOf(response);
        if (response.status < 500) { onConnection("error", error); return; }
        throw error;
      }
      onConnection("open");
      delay = 500;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let type = "message", data = "", id = null;
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) continue;
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            if (field === "event") type = text;
            else if (field === "data") data += (data ? "\n" : "") + text;
            else if (field === "id") id = Number(text);
          }
          if (id !== null && id > last) last = id;
          if (!data) continue;
          let parsed;
          try { parsed = JSON.parse(data); } catch { parsed = data; }
          if (type === "finished" || (type === "state" && parsed && isOver(parsed.state))) over = true;
          onEvent(type, parsed, id);
        }
      }
      // The server ends a stream only once the job is over.
      over = true;
      onConnection("closed");
    } catch (error) {
      if (signal.aborted) return;
      onConnection("retrying", error);
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 8000);
    }
  }
}

export function isOver(state) {
  return state === "completed" || state === "canceled" || state === "failed";
}

export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/** Repeats `task` every `ms` until `signal` aborts (the page is left). */
export async function every(ms, signal, task) {
  while (!signal.aborted) {
    try { await task(); } catch (error) { if (!signal.aborted) report(error); }
    await sleep(ms, signal);
  }
}

/**
 * An element: `h("a", { href: "#/x", class: "y", onclick: f }, "text", child)`.
 * Attributes named on* become listeners; `false`/`null` ones are left out.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "value") element.value = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** Replaces what `element` holds. */
export function fill(element, ...children) {
  element.replaceChildren();
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) element.append(child);
  }
  return element;
}

/** A table; `columns` are [heading, row => cell]. Scrolls sideways on a phone. */
export function table(rows, columns, { empty = "Nothing yet.", label } = {}) {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h("div", { class: "scroll" },
    h("table", {},
      label ? h("caption", { class: "visually-hidden" }, label) : null,
      h("thead", {}, h("tr", {}, columns.map(([heading]) => h("th", { scope: "col" }, heading)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell]) => h("td", {}, cell(row))))))));
}

/** A state as a coloured badge (text, not only colour). */
export function badge(state) {
  return h("span", { class: `badge state-${state}` }, state);
}

/** Says something in the status line (read out by screen readers). */
export function say(text, kind = "info") {
  const status = document.getElementById("status");
  fill(status, h("span", { class: `toast ${kind}` }, text));
  clearTimeout(say.timer);
  say.timer = setTimeout(() => status.replaceChildren(), kind === "error" ? 10000 : 4000);
}

/** Shows an error where it happened, and in the status line. */
export function report(error, where) {
  const text = error instanceof ApiError ? `${error.message} (${error.code})` : String(error.message || error);
  if (where) fill(where, h("div", { class: "error", role: "alert" }, text));
  say(text, "error");
}

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return h("time", { datetime: iso, title: date.toISOString() }, date.toLocaleString());
}

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function between(start, end) {
  if (!start) return null;
  return (end ? Date.parse(end) : Date.now()) - Date.parse(start);
}

export function json(value) {
  return JSON.stringify(value, null, 2);
}

/** Parses a JSON object typed by a user; throws a readable error. */
export function parseObject(text, what = "fields") {
  const trimmed = text.trim();
  if (!trimmed) return {};
  let value;
  try { value = JSON.parse(trimmed); } catch (e) { throw new Error(`${what}: not JSON (${e.message})`); }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${what}: give a JSON object`);
  return value;
}

/** A labelled form control. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    control,
    hint ? h("small", { class: "muted" }, hint) : null);
}

/** A link to a path of the console. */
export function link(path, ...children) {
  return h("a", { href: `#${path}` }, ...children);
}

export function enc(segment) {
  return encodeURIComponent(segment);
}
