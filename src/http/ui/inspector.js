// The inspector: a company's users, a user's history from the journal, and
// the live request feed. Talks to /admin with the operator token, which is
// kept in this browser only (localStorage, or #token=... in the address).
"use strict";

const hash = new URLSearchParams(location.hash.slice(1));
let token = hash.get("token") || localStorage.getItem("teamtailor-scim-operator") || "";
let company = hash.get("company") || "default";
let selectedUser = hash.get("user");
let feedAbort = null;

const $ = (selector) => document.querySelector(selector);
const el = (tag, attributes = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
};

async function admin(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.error || `${response.status} ${response.statusText}`);
  }
  return response;
}

function show(message) {
  $("#status").textContent = message || "";
}

const text = (value) => (value === undefined || value === null ? "" : typeof value === "string" ? value : JSON.stringify(value));

function describeChange(change) {
  const box = el("div", { class: "change" });
  if (!change) return box;
  if (change.kind === "created") box.append(`created with role ${change.role}`);
  if (change.kind === "deleted") box.append("deleted");
  for (const attribute of change.attributes || []) {
    box.append(el("div", {}, `${attribute.attribute}: `, el("del", {}, text(attribute.from)), " → ", el("ins", {}, text(attribute.to))));
  }
  if (change.kind === "updated" && change.role) {
    box.append(el("div", { class: "role-change" }, "role: ", el("del", {}, change.role.from), " → ", el("ins", {}, change.role.to)));
  }
  return box;
}

function entryItem(entry) {
  const line = el("div", { class: "line" },
    el("span", { class: "time" }, entry.time.slice(11, 23)),
    el("span", { class: `status s${String(entry.status)[0]}` }, String(entry.status)),
    el("span", {}, `${entry.method} ${entry.path}`),
    el("span", { class: "client" }, entry.client));
  if (entry.fault) line.append(el("span", { class: "fault" }, entry.fault));
  return el("li", { "data-id": String(entry.id ?? "") }, line, describeChange(entry.change));
}

async function loadCompanies() {
  const companies = await (await admin("/admin/companies")).json();
  const select = $("#company");
  select.replaceChildren(...companies.map((c) => el("option", { value: c.slug }, c.slug)));
  if (!companies.some((c) => c.slug === company) && companies.length) company = companies[0].slug;
  select.value = company;
}

async function loadUsers() {
  const body = await (await admin(`/admin/companies/${encodeURIComponent(company)}/users/export`)).text();
  const users = body.split("\n").filter(Boolean).map((line) => JSON.parse(line));
  const rows = users.map((user) => {
    const name = user.name ? user.name.formatted || [user.name.givenName, user.name.familyName].filter(Boolean).join(" ") : "";
    const role = user["urn:ietf:params:scim:schemas:extension:teamtailor:2.0:User"].role;
    const row = el("tr", { "data-user": user.id },
      el("td", {}, user.id), el("td", {}, user.userName), el("td", {}, name || user.displayName || ""),
      el("td", {}, user.title || ""), el("td", { class: `role ${role}` }, role), el("td", {}, user.active ? "yes" : "no"));
    if (user.id === selectedUser) row.classList.add("selected");
    row.addEventListener("click", () => selectUser(user.id));
    return row;
  });
  $("#users tbody").replaceChildren(...rows);
  $("#user-count").textContent = `${users.length} in ${company}`;
}

async function selectUser(id) {
  selectedUser = id;
  for (const row of document.querySelectorAll("#users tbody tr")) row.classList.toggle("selected", row.dataset.user === id);
  $("#history-of").textContent = `user ${id}`;
  const journal = await (await admin(`/admin/journal?company=${encodeURIComponent(company)}&user=${id}&limit=200`)).json();
  $("#history").replaceChildren(...journal.entries.map(entryItem));
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    loadUsers().catch((e) => show(e.message));
    if (selectedUser) selectUser(selectedUser).catch((e) => show(e.message));
  }, 300);
}

async function followFeed() {
  if (feedAbort) feedAbort.abort();
  feedAbort = new AbortController();
  const recent = await (await admin(`/admin/journal?company=${encodeURIComponent(company)}&limit=50`)).json();
  $("#feed").replaceChildren(...recent.entries.map(entryItem));
  const response = await fetch(`/admin/journal/stream?company=${encodeURIComponent(company)}`, {
    headers: { Authorization: `Bearer ${token}` },
    signal: feedAbort.signal,
  });
  $("#feed-state").textContent = "live";
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
      if (!data) continue;
      const entry = JSON.parse(data);
      $("#feed").prepend(entryItem(entry));
      if (entry.change) refreshSoon();
    }
  }
  $("#feed-state").textContent = "disconnected";
}

async function start() {
  show("");
  if (!token) {
    show("Enter the operator token (--admin-token) to connect.");
    return;
  }
  try {
    await loadCompanies();
    await loadUsers();
    if (selectedUser) await selectUser(selectedUser);
    followFeed().catch((e) => { if (e.name !== "AbortError") show(e.message); });
  } catch (e) {
    show(e.message);
  }
}

$("#login").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("#token").value;
  localStorage.setItem("teamtailor-scim-operator", token);
  start();
});
$("#company").addEventListener("change", (event) => {
  company = event.target.value;
  selectedUser = null;
  $("#history").replaceChildren();
  $("#history-of").textContent = "select a user";
  start();
});
start();
