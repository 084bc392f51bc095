// What every page shares: the model's name (from the URL /m/NAME), JSON calls, errors.
"use strict";
const MODEL = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");

async function postJSON(action, body) {
  const response = await fetch(`/api/${encodeURIComponent(MODEL)}/${action}`, {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (e) { data = {detail: `HTTP ${response.status}`}; }
  if (!response.ok) throw new Error(describe(data, response.status));
  return data;
}

function describe(data, status) {
  const detail = data && data.detail;
  if (Array.isArray(detail)) return detail.map(d => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  return detail || `HTTP ${status}`;
}

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function modelInfo() {
  const models = await (await fetch("/api/models")).json();
  const info = models.find(m => m.name === MODEL) || {};
  document.getElementById("model-name").textContent = MODEL;
  document.title = `${MODEL} · rnnkit`;
  return info;
}

function addSamples(samples, onPick) {
  const box = document.getElementById("samples");
  for (const text of samples || []) {
    const b = document.createElement("button");
    b.type = "button"; b.className = "secondary"; b.textContent = text.length > 40 ? text.slice(0, 38) + "…" : text;
    b.title = text; b.addEventListener("click", () => onPick(text));
    box.appendChild(b);
  }
}

// Run `work` with the button disabled, errors shown in #error.
async function busy(button, work) {
  button.disabled = true; showError("");
  try { await work(); } catch (e) { showError(e.message); } finally { button.disabled = false; }
}

// On submitting #form: `work()`, with #submit busy.
function onSubmit(work) {
  document.getElementById("form").addEventListener("submit", event => {
    event.preventDefault();
    busy(document.getElementById("submit"), work);
  });
}

// The usual page: a #text field, sample buttons under it that fill it and submit, and on submit
// `work(text)`. `withInfo(info)`, if given, sees the model's info first.
function textForm(work, withInfo = () => {}) {
  const form = document.getElementById("form"), text = document.getElementById("text");
  modelInfo().then(info => {
    withInfo(info);
    addSamples(info.samples, t => { text.value = t; form.requestSubmit(); });
  });
  onSubmit(() => work(text.value));
}

// Rows of a table.probs: per [name, p], the name as `label(name)`, p, and a bar as long as p.
function probabilityRows(body, entries, label = name => name) {
  body.textContent = "";
  for (const [name, p] of entries) {
    const row = body.insertRow();
    row.dataset.class = name;
    row.insertCell().textContent = label(name);
    const value = row.insertCell(); value.className = "p"; value.textContent = p.toFixed(3);
    const fill = document.createElement("div"); fill.className = "fill"; fill.style.width = `${(100 * p).toFixed(1)}%`;
    row.insertCell().appendChild(fill);
  }
}
