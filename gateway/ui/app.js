// The kitegate console. Everything comes from the admin API: backends,
// their OpenAPI documents (methods, schemas, examples), metrics. Try-it
// requests go through /admin/try; WebSocket streams go to the front door.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== false && v !== undefined && v !== null) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  }
  return e;
};
const SVG = "http://www.w3.org/2000/svg";
const svg = (tag, attrs = {}) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};

// ---- the admin API ----------------------------------------------------------

const state = {
  backends: [],
  selected: null,
  doc: null,
  samples: [], // metrics scrapes: {t, series: Map}
  protocols: [], // {name, transports, idl}
};

function token() {
  return sessionStorage.getItem("kitegate-token") || "";
}

async function api(method, path, body, headers = {}) {
  const h = Object.assign({}, headers);
  if (token()) h.Authorization = "Bearer " + token();
  const resp = await fetch(path, { method, headers: h, body });
  if (resp.status === 401) {
    askToken("The admin API wants a token.");
    throw new Error("unauthorized");
  }
  return resp;
}

async function apiJson(method, path, body, headers) {
  const resp = await api(method, path, body, headers);
  const text = await resp.text();
  let value = null;
  try { value = JSON.parse(text); } catch (_) { value = text; }
  return { status: resp.status, value };
}

function say(text) {
  $("#status").textContent = text;
}

function askToken(why) {
  const d = $("#token-dialog");
  if (d.open) return;
  $("#token-input").value = token();
  if (why) say(why);
  d.showModal();
  $("#token-input").focus();
}

// ---- metrics ------------------------------------------------------------------

function parseMetrics(text) {
  const series = new Map();
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      for (const lm of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
    }
    const list = series.get(m[1]) || [];
    list.push({ labels, value: Number(m[4]) });
    series.set(m[1], list);
  }
  return series;
}

async function scrape() {
  let resp;
  try {
    resp = await api("GET", "/metrics");
  } catch (_) {
    return;
  }
  if (!resp.ok) return;
  const series = parseMetrics(await resp.text());
  state.samples.push({ t: Date.now() / 1000, series });
  const keep = Date.now() / 1000 - 300;
  while (state.samples.length > 2 && state.samples[0].t < keep) state.samples.shift();
}

const sum = (list, pred) => (list || []).filter(pred).reduce((a, s) => a + s.value, 0);

// Requests per second and error share of what matches `pred`, over the last two scrapes.
function rate(pred) {
  const n = state.samples.length;
  if (n < 2) return null;
  const a = state.samples[n - 2], b = state.samples[n - 1];
  const dt = b.t - a.t;
  const total = (s) => sum(s.series.get("kitegate_requests_total"), (x) => pred(x.labels));
  const errors = (s) => sum(s.series.get("kitegate_requests_total"), (x) => pred(x.labels) && Number(x.labels.code) >= 500);
  const dn = total(b) - total(a);
  const de = errors(b) - errors(a);
  return { rps: dt > 0 ? dn / dt : 0, errors: dn > 0 ? de / dn : 0 };
}

// A latency quantile of the route's requests between two scrapes, from the histogram.
function quantile(a, b, route, q) {
  const buckets = (s) => (s.series.get("kitegate_request_duration_seconds_bucket") || []).filter((x) => x.labels.route === route);
  const before = new Map(buckets(a).map((x) => [x.labels.le, x.value]));
  const now = buckets(b).map((x) => ({ le: x.labels.le === "+Inf" ? Infinity : Number(x.labels.le), n: x.value - (before.get(x.labels.le) || 0) }));
  now.sort((x, y) => x.le - y.le);
  const total = now.length ? now[now.length - 1].n : 0;
  if (total <= 0) return null;
  for (const x of now) if (x.n >= q * total) return x.le;
  return null;
}

function fmtSeconds(s) {
  if (s === null || s === undefined) return "–";
  if (s === Infinity) return "> max";
  return s < 1 ? (s * 1000).toFixed(s < 0.01 ? 1 : 0) + " ms" : s.toFixed(2) + " s";
}

// ---- backends -----------------------------------------------------------------

async function loadBackends() {
  let r;
  try {
    r = await apiJson("GET", "/admin/backends");
  } catch (_) {
    return;
  }
  if (r.status !== 200) {
    say("admin API: " + (r.value.error ? r.value.error.message : r.status));
    return;
  }
  state.backends = r.value.backends || [];
  renderBackends();
}

function endpointStates(name) {
  const last = state.samples[state.samples.length - 1];
  const out = new Map();
  if (!last) return out;
  for (const s of last.series.get("kitegate_endpoint_state") || []) {
    if (s.labels.backend === name && s.value === 1) out.set(s.labels.endpoint, s.labels.state);
  }
  return out;
}

function renderBackends() {
  const body = $("#backends tbody");
  body.replaceChildren();
  for (const b of state.backends) {
    const states = endpointStates(b.name);
    const r = rate((l) => l.backend === b.name);
    const eps = (b.endpoints || []).map((e) => el("span", { class: "endpoint " + (states.get(e) || "unknown"), title: states.get(e) || "state unknown" }, e, " ", el("small", {}, states.get(e) || "")));
    const row = el("tr", {
      tabindex: "0",
      class: state.selected === b.name ? "selected" : "",
      "data-backend": b.name,
      onclick: () => select(b.name),
      onkeydown: (ev) => { if (ev.key === "Enter") select(b.name); },
    },
      el("td", {}, b.name),
      el("td", {}, b.protocol + " / " + b.transport),
      el("td", {}, eps.length ? eps : el("small", {}, "discovered")),
      el("td", { class: "num" }, r ? r.rps.toFixed(1) : "–"),
      el("td", { class: "num" }, r ? (r.errors * 100).toFixed(1) + " %" : "–"),
      el("td", {}, b.source || ""));
    body.append(row);
  }
}

async function select(name) {
  state.selected = name;
  renderBackends();
  const r = await apiJson("GET", "/admin/backends/" + encodeURIComponent(name) + "/openapi.json");
  if (r.status !== 200) {
    $("#detail").replaceChildren(el("p", { class: "error" }, r.value.error ? r.value.error.message : "cannot load " + name));
    return;
  }
  state.doc = r.value;
  renderDetail(name);
}

function operations(doc) {
  const out = [];
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [verb, op] of Object.entries(item)) out.push({ path, verb, op });
  }
  out.sort((a, b) => (a.op.summary || "").localeCompare(b.op.summary || "") || a.path.localeCompare(b.path));
  return out;
}

function resolve(doc, s) {
  let depth = 0;
  while (s && s.$ref && depth++ < 20) s = s.$ref.slice(2).split("/").reduce((o, k) => (o ? o[k] : undefined), doc);
  return s || {};
}

// A schema as a short type expression (as `kitegate describe` writes it).
function render(doc, s, depth = 0) {
  if (!s) return "any";
  if (s.$ref) {
    const t = resolve(doc, s);
    const title = t.title || s.$ref.split("/").pop();
    return depth >= 2 || !t.properties ? title : title + " " + render(doc, t, depth + 1);
  }
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (s.anyOf || s.oneOf) return render(doc, (s.anyOf || s.oneOf)[0], depth);
  const ty = Array.isArray(s.type) ? s.type[0] : s.type || (s.properties ? "object" : "any");
  if (ty === "array") return "[" + render(doc, s.items, depth) + "]";
  if (ty === "object") {
    if (s.properties && Object.keys(s.properties).length) {
      return "{" + Object.entries(s.properties).map(([k, v]) => k + ": " + render(doc, v, depth + 1)).join(", ") + "}";
    }
    return s.additionalProperties ? "{string: " + render(doc, s.additionalProperties, depth) + "}" : "{}";
  }
  return (ty === "integer" || ty === "string") && s.format ? s.format : ty;
}

function requestContent(op) {
  const c = (op.requestBody || {}).content || {};
  if (c["application/json"]) return { media: "application/json", ...c["application/json"] };
  if (c["application/x-ndjson"]) return { media: "application/x-ndjson", ...c["application/x-ndjson"] };
  return null;
}

// The example `call` takes: the body's example with the required parameters put in.
function exampleOf(doc, op) {
  const c = requestContent(op);
  let ex = c && c.example !== undefined ? c.example : {};
  const field = op.requestBody && op.requestBody["x-body-field"];
  if (field) ex = { [field]: ex };
  if (ex && typeof ex === "object" && !Array.isArray(ex)) {
    for (const p of op.parameters || []) {
      if (p.required && !p.name.includes(".") && !(p.name in ex)) ex[p.name] = p.in === "path" ? "1" : "";
    }
  }
  return ex;
}

function renderDetail(name) {
  const doc = state.doc;
  const b = state.backends.find((x) => x.name === name) || { name };
  const ops = operations(doc);
  const removeButton = el("button", { type: "button", class: "danger", id: "remove", onclick: () => removeBackend(name) }, "Remove…");
  const list = el("div", { id: "methods" });
  for (const o of ops) list.append(methodCard(doc, o));
  $("#detail").replaceChildren(
    el("h2", {}, name, " ", el("small", {}, b.protocol ? b.protocol + " / " + b.transport : "")),
    el("p", {}, (b.files || []).join(", "), " ", removeButton),
    list);
}

function methodCard(doc, o) {
  const op = o.op;
  const c = requestContent(op);
  const resp = ((op.responses || {})["200"] || {}).content || {};
  const streams = !!resp["application/x-ndjson"];
  const respSchema = (resp["application/json"] || resp["application/x-ndjson"] || {}).schema;
  const id = "m-" + op.operationId.replace(/[^a-zA-Z0-9_-]/g, "_");
  const card = el("details", { class: "method", id },
    el("summary", {}, el("b", {}, op.summary), " ", el("code", {}, o.verb.toUpperCase() + " " + o.path), streams ? el("span", { class: "tag" }, "stream") : null, c && c.media === "application/x-ndjson" ? el("span", { class: "tag" }, "client stream") : null));
  const params = (op.parameters || []).map((p) => el("li", {}, p.in + " ", el("code", {}, p.name), ": " + render(doc, p.schema)));
  card.append(...[
    params.length ? el("ul", { class: "params" }, params) : null,
    c ? el("p", {}, "request: ", el("code", {}, render(doc, c.schema))) : null,
    respSchema ? el("p", {}, "response: ", streams ? "stream of " : "", el("code", {}, render(doc, respSchema))) : null,
  ].filter(Boolean));
  card.addEventListener("toggle", () => {
    if (card.open && !card.querySelector("form")) card.append(tryForm(doc, o));
  }, { once: false });
  return card;
}

// ---- try it ------------------------------------------------------------------

function lookup(v, path) {
  return path.split(".").reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), v);
}

// The HTTP request of an operation, from the JSON input (as `kitegate call` makes it).
function build(o, input) {
  const op = o.op;
  const obj = Array.isArray(input) ? input[0] || {} : input || {};
  let path = o.path;
  const query = [];
  const headers = {};
  const used = new Set();
  for (const p of op.parameters || []) {
    const v = lookup(obj, p.name);
    if (v === undefined) {
      if (p.in === "path") throw new Error("the route needs `" + p.name + "` in the request");
      continue;
    }
    used.add(p.name.split(".")[0]);
    const text = (x) => (typeof x === "string" ? x : JSON.stringify(x));
    if (p.in === "path") {
      const several = p.schema && p.schema.pattern;
      path = path.replace("{" + p.name + "}", several ? text(v).split("/").map(encodeURIComponent).join("/") : encodeURIComponent(text(v)));
    } else if (p.in === "query") {
      for (const x of Array.isArray(v) ? v : [v]) query.push(encodeURIComponent(p.name) + "=" + encodeURIComponent(text(x)));
    } else if (p.in === "header") {
      headers[p.name] = text(v);
    }
  }
  const c = requestContent(op);
  let body = null;
  if (c && c.media === "application/x-ndjson") {
    body = (Array.isArray(input) ? input : [input]).map((x) => JSON.stringify(x) + "\n").join("");
    headers["content-type"] = "application/x-ndjson";
  } else if (c) {
    const field = op.requestBody["x-body-field"];
    let value = field ? lookup(obj, field) || {} : obj;
    if (!field && obj && typeof obj === "object" && !Array.isArray(obj)) {
      value = Object.fromEntries(Object.entries(obj).filter(([k]) => !used.has(k)));
    }
    body = JSON.stringify(value);
    headers["content-type"] = "application/json";
  }
  return { method: o.verb.toUpperCase(), target: path + (query.length ? "?" + query.join("&") : ""), headers, body };
}

function tryForm(doc, o) {
  const c = requestContent(o.op);
  const clientStream = c && c.media === "application/x-ndjson";
  const editor = el("textarea", { class: "editor", rows: 8, spellcheck: "false", "aria-label": "request JSON" }, JSON.stringify(exampleOf(doc, o.op), null, 2));
  const out = el("div", { class: "answer", "aria-live": "polite" });
  const send = el("button", { type: "submit", class: "send" }, "Send");
  const form = el("form", { class: "try", onsubmit: (ev) => { ev.preventDefault(); tryIt(o, editor, out); } },
    el("label", {}, "Request (JSON; Ctrl+Enter sends)"), editor, el("div", {}, send,
      clientStream && doc.servers ? el("button", { type: "button", class: "ws", onclick: () => openSocket(doc, o, form) }, "Open WebSocket") : null),
    out);
  editor.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); tryIt(o, editor, out); }
  });
  return form;
}

async function tryIt(o, editor, out) {
  let input;
  out.replaceChildren();
  try {
    input = editor.value.trim() ? JSON.parse(editor.value) : {};
  } catch (e) {
    out.append(el("p", { class: "error" }, "not JSON: " + e.message));
    return;
  }
  let req;
  try {
    req = build(o, input);
  } catch (e) {
    out.append(el("p", { class: "error" }, e.message));
    return;
  }
  const started = performance.now();
  const statusLine = el("p", { class: "status" }, req.method + " " + req.target + " …");
  const headersView = el("pre", { class: "headers" });
  const bodyView = el("pre", { class: "body" });
  out.append(statusLine, headersView, bodyView);
  let resp;
  try {
    resp = await api(req.method, "/admin/try" + req.target, req.body, req.headers);
  } catch (e) {
    statusLine.textContent = "failed: " + e.message;
    return;
  }
  statusLine.textContent = resp.status + " " + resp.statusText;
  statusLine.className = "status " + (resp.ok ? "ok" : "bad");
  headersView.textContent = [...resp.headers.entries()].map(([k, v]) => k + ": " + v).join("\n");
  const type = resp.headers.get("content-type") || "";
  if (type.includes("ndjson") || type.includes("event-stream")) {
    // Each message as it arrives.
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.trim()) bodyView.append(el("div", { class: "line" }, line));
      }
    }
    if (pending.trim()) bodyView.append(el("div", { class: "line" }, pending));
  } else {
    const text = await resp.text();
    try { bodyView.textContent = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { bodyView.textContent = text; }
  }
  statusLine.append(" · " + (performance.now() - started).toFixed(1) + " ms");
}

// A client or bidirectional stream over WebSocket: one line, one message.
function openSocket(doc, o, form) {
  const base = doc.servers[0].url.replace(/^http/, "ws");
  let target;
  try {
    const first = JSON.parse(form.querySelector("textarea").value || "{}");
    target = build(o, Array.isArray(first) ? first[0] || {} : first).target;
  } catch (_) {
    target = o.path;
  }
  const log = el("div", { class: "socket-log", "aria-live": "polite" });
  const line = el("input", { class: "socket-line", "aria-label": "message JSON", placeholder: "{…} Enter sends; empty Enter ends the requests" });
  const panel = el("div", { class: "socket" }, el("p", {}, "WebSocket " + base + target), log, line);
  form.append(panel);
  const ws = new WebSocket(base + target);
  const note = (cls, text) => log.append(el("div", { class: cls }, text));
  ws.onopen = () => { note("info", "open"); line.focus(); };
  ws.onmessage = (ev) => note("in", "← " + ev.data);
  ws.onerror = () => note("error", "WebSocket error");
  ws.onclose = (ev) => { note(ev.code === 1000 ? "info" : "error", "closed " + ev.code + " " + ev.reason); line.disabled = true; };
  line.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    ev.preventDefault();
    ws.send(line.value);
    note("out", line.value ? "→ " + line.value : "→ (end of requests)");
    line.value = "";
  });
}

// ---- register and remove ---------------------------------------------------------

const dropped = new Map(); // file name -> File

// The protocols the gateway knows (GET /admin/protocols) fill the selects;
// the transport select offers the chosen protocol's (its default first).
async function loadProtocols() {
  const r = await apiJson("GET", "/admin/protocols");
  if (r.status !== 200) return;
  state.protocols = r.value;
  $("#reg-protocol").replaceChildren(...state.protocols.map((p) => el("option", {}, p.name)));
  fillTransports();
}

function fillTransports() {
  const p = state.protocols.find((x) => x.name === $("#reg-protocol").value);
  $("#reg-transport").replaceChildren(...(p ? p.transports : []).map((t) => el("option", {}, t)));
}

function addFiles(files) {
  for (const f of files) dropped.set(f.name, f);
  const list = $("#file-list");
  list.replaceChildren(...[...dropped.keys()].map((n) => el("li", {}, n, " ", el("button", { type: "button", class: "small", "aria-label": "drop " + n, onclick: () => { dropped.delete(n); addFiles([]); } }, "×"))));
  const main = $("#reg-main");
  const current = main.value;
  main.replaceChildren(...[...dropped.keys()].map((n) => el("option", { selected: n === current }, n)));
  const first = [...dropped.keys()][0] || "";
  // A protocol described by the dropped files' IDL kind, if the chosen one is not.
  const kind = first.endsWith(".proto") ? "proto" : "thrift";
  const chosen = state.protocols.find((p) => p.name === $("#reg-protocol").value);
  const fits = state.protocols.find((p) => p.idl === kind);
  if (first && chosen && chosen.idl !== kind && fits) {
    $("#reg-protocol").value = fits.name;
    fillTransports();
  }
  if (!$("#reg-name").value && first) $("#reg-name").value = first.replace(/\.(thrift|proto)$/, "").replace(/[^A-Za-z0-9._-]/g, "-");
}

async function register(ev) {
  ev.preventDefault();
  const result = $("#reg-result");
  result.replaceChildren();
  const name = $("#reg-name").value.trim();
  const protocol = $("#reg-protocol").value;
  const transport = $("#reg-transport").value;
  const settings = {
    protocol, transport,
    endpoints: $("#reg-endpoints").value.split(",").map((s) => s.trim()).filter(Boolean),
    main: $("#reg-main").value || undefined,
  };
  if ($("#reg-prefix").value.trim()) settings.prefix = $("#reg-prefix").value.trim();
  if (state.backends.some((b) => b.name === name) && !confirm("Replace backend " + name + "?")) return;
  const form = new FormData();
  form.append("settings", JSON.stringify(settings));
  for (const [n, f] of dropped) form.append(n, f, n);
  const r = await apiJson("PUT", "/admin/backends/" + encodeURIComponent(name), form);
  if (r.status === 200 || r.status === 201) {
    result.append(el("p", { class: "ok" }, (r.status === 201 ? "registered " : "replaced ") + name));
    await loadBackends();
    select(name);
  } else {
    const e = r.value && r.value.error ? r.value.error : { message: String(r.value) };
    result.append(el("p", { class: "error" }, e.message));
    const details = (e.details || []).map((d) => el("li", { class: "idl-error" }, (d.file || "?") + ":" + (d.line || 0) + ": " + d.message));
    if (details.length) result.append(el("ul", {}, details));
  }
}

async function removeBackend(name) {
  if (!confirm("Remove backend " + name + "? Its routes stop at once.")) return;
  const r = await apiJson("DELETE", "/admin/backends/" + encodeURIComponent(name));
  if (r.status === 200) {
    state.selected = null;
    $("#detail").replaceChildren(el("p", { class: "ok" }, "removed " + name));
    await loadBackends();
  } else {
    say(r.value.error ? r.value.error.message : "cannot remove " + name);
  }
}

// ---- traffic -----------------------------------------------------------------------

const COLORS = ["#2b6cb0", "#c05621", "#2f855a", "#9b2c2c", "#6b46c1", "#b7791f", "#2c7a7b", "#702459"];

// One line chart of per-route series over the last five minutes.
function lineChart(series, unit) {
  const W = 720, H = 200, P = 44;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "presentation" });
  const now = Date.now() / 1000, t0 = now - 300;
  let max = 0;
  for (const s of series) for (const [t, v] of s.points) if (t >= t0) max = Math.max(max, v);
  if (max <= 0) max = 1;
  const x = (t) => P + ((t - t0) / 300) * (W - P - 8);
  const y = (v) => H - 28 - (v / max) * (H - 36);
  root.append(svg("line", { x1: P, y1: H - 28, x2: W - 8, y2: H - 28, class: "axis" }));
  root.append(svg("line", { x1: P, y1: 8, x2: P, y2: H - 28, class: "axis" }));
  const label = (text, xx, yy, anchor = "end") => {
    const t = svg("text", { x: xx, y: yy, "text-anchor": anchor, class: "label" });
    t.textContent = text;
    root.append(t);
  };
  label(unit(max), P - 4, 14);
  label(unit(0), P - 4, H - 28);
  label("-5 min", P, H - 10, "start");
  label("now", W - 8, H - 10);
  for (const s of series) {
    const pts = s.points.filter(([t]) => t >= t0);
    if (pts.length) root.append(svg("polyline", { points: pts.map(([t, v]) => x(t).toFixed(1) + "," + y(v).toFixed(1)).join(" "), stroke: s.color, class: "series" }));
    // Each sample as a dot, so that a lone one shows too.
    for (const [t, v] of pts) if (v > 0) root.append(svg("circle", { cx: x(t).toFixed(1), cy: y(v).toFixed(1), r: 2.5, fill: s.color }));
  }
  return root;
}

function renderTraffic() {
  const samples = state.samples;
  const routes = new Map();
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1], b = samples[i];
    const dt = b.t - a.t;
    const before = new Map((a.series.get("kitegate_requests_total") || []).map((s) => [JSON.stringify(s.labels), s.value]));
    const per = new Map();
    for (const s of b.series.get("kitegate_requests_total") || []) {
      if (!s.labels.route) continue;
      const d = s.value - (before.get(JSON.stringify(s.labels)) || 0);
      per.set(s.labels.route, (per.get(s.labels.route) || 0) + d);
      if (!routes.has(s.labels.route)) routes.set(s.labels.route, { backend: s.labels.backend, rate: [], p99: [] });
    }
    for (const [route, n] of per) {
      const r = routes.get(route);
      r.rate.push([b.t, dt > 0 ? n / dt : 0]);
      const q = quantile(a, b, route, 0.99);
      if (q !== null && q !== Infinity) r.p99.push([b.t, q]);
    }
  }
  const named = [...routes.entries()].sort().map(([route, r], i) => ({ route, ...r, color: COLORS[i % COLORS.length] }));
  $("#chart").replaceChildren(lineChart(named.map((r) => ({ color: r.color, points: r.rate })), (v) => v.toFixed(v < 10 ? 1 : 0) + "/s"));
  $("#latency").replaceChildren(lineChart(named.map((r) => ({ color: r.color, points: r.p99 })), fmtSeconds));
  const body = $("#routes-table tbody");
  body.replaceChildren();
  const n = samples.length;
  for (const r of named) {
    const last = r.rate.length ? r.rate[r.rate.length - 1][1] : 0;
    const err = rate((l) => l.route === r.route);
    body.append(el("tr", {},
      el("td", {}, el("span", { class: "swatch", "data-color": r.color }), " ", r.route),
      el("td", {}, r.backend),
      el("td", { class: "num" }, last.toFixed(1)),
      el("td", { class: "num" }, n >= 2 ? fmtSeconds(quantile(samples[0], samples[n - 1], r.route, 0.5)) : "–"),
      el("td", { class: "num" }, n >= 2 ? fmtSeconds(quantile(samples[0], samples[n - 1], r.route, 0.99)) : "–"),
      el("td", { class: "num" }, err ? (err.errors * 100).toFixed(1) + " %" : "–")));
  }
  for (const s of body.querySelectorAll(".swatch")) s.style.background = s.dataset.color;
}

// ---- wiring -------------------------------------------------------------------------

function show(view) {
  for (const v of ["backends", "traffic"]) {
    $("#view-" + v).hidden = v !== view;
    $("#tab-" + v).setAttribute("aria-pressed", String(v === view));
  }
  if (view === "traffic") renderTraffic();
}

async function tick() {
  await scrape();
  await loadBackends();
  if (!$("#view-traffic").hidden) renderTraffic();
}

function start() {
  $("#tab-backends").addEventListener("click", () => show("backends"));
  $("#tab-traffic").addEventListener("click", () => show("traffic"));
  $("#token-button").addEventListener("click", () => askToken(""));
  $("#token-cancel").addEventListener("click", () => $("#token-dialog").close());
  $("#token-form").addEventListener("submit", () => {
    sessionStorage.setItem("kitegate-token", $("#token-input").value.trim());
    say("token saved");
    loadProtocols().catch(() => {});
    tick();
  });
  const drop = $("#drop");
  drop.addEventListener("click", () => $("#files").click());
  drop.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); $("#files").click(); } });
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => { ev.preventDefault(); drop.classList.remove("over"); addFiles(ev.dataTransfer.files); });
  $("#files").addEventListener("change", (ev) => addFiles(ev.target.files));
  $("#register").addEventListener("submit", register);
  $("#reg-protocol").addEventListener("change", fillTransports);
  loadProtocols().catch(() => {});
  tick();
  setInterval(tick, 2000);
}

document.addEventListener("DOMContentLoaded", start);
