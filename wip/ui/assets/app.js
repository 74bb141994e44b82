// Outpost web UI: the only script, served from the box (no inline code: see the CSP).
// Confirms destructive forms, and keeps the dashboard live by polling /ui/status.json.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

function cell(row, text, className) {
  const td = document.createElement("td");
  if (className) {
    const span = document.createElement("span");
    span.className = className;
    span.textContent = text;
    td.appendChild(span);
  } else {
    td.textContent = text == null ? "" : String(text);
  }
  row.appendChild(td);
  return td;
}

function refill(tbody, items, build) {
  if (!tbody) return;
  const rows = items.map(build);
  tbody.replaceChildren(...rows);
}

function show(snapshot) {
  for (const el of document.querySelectorAll("[data-live]")) {
    const value = snapshot[el.getAttribute("data-live")];
    if (value !== undefined) el.textContent = String(value);
  }
  refill(document.querySelector("#phones tbody"), snapshot.phones, (p) => {
    const tr = document.createElement("tr");
    tr.setAttribute("data-phone", p.id);
    cell(tr, p.number);
    cell(tr, p.name);
    cell(tr, p.tenant);
    cell(tr, p.registered ? "registered" : "not registered", p.registered ? "state good" : "state bad");
    cell(tr, p.contact);
    cell(tr, p.agent);
    return tr;
  });
  refill(document.querySelector("#calls tbody"), snapshot.calls, (c) => {
    const tr = document.createElement("tr");
    [c.call, c.duration, c.loss, c.jitter].forEach((v) => cell(tr, v));
    return tr;
  });
  refill(document.querySelector("#trunks tbody"), snapshot.trunks, (t) => {
    const tr = document.createElement("tr");
    tr.setAttribute("data-trunk", t.tenant + "-" + t.name);
    cell(tr, t.tenant + "/" + t.name);
    cell(tr, t.role);
    cell(tr, t.state, "state " + (t.state === "up" ? "good" : t.state === "down" ? "bad" : ""));
    [t.since, t.rtt, t.reason].forEach((v) => cell(tr, v));
    return tr;
  });
  const alerts = document.getElementById("alerts");
  if (alerts) {
    alerts.replaceChildren(...snapshot.alerts.map((a) => {
      const li = document.createElement("li");
      li.textContent = a;
      return li;
    }));
  }
  const none = document.getElementById("no-alerts");
  if (none) none.hidden = snapshot.alerts.length > 0;
  const tile = document.getElementById("mode-tile");
  if (tile) tile.classList.toggle("bad", snapshot.survivable);
  const board = document.getElementById("dashboard");
  if (board) board.setAttribute("data-updated", String(Date.now()));
}

function poll(url) {
  fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((r) => {
      if (r.redirected || r.status === 401 || r.status === 403) {
        window.location.reload();
        return null;
      }
      return r.ok ? r.json() : null;
    })
    .then((snapshot) => {
      if (snapshot) show(snapshot);
    })
    .catch(() => {})
    .finally(() => window.setTimeout(() => poll(url), 2000));
}

document.addEventListener("DOMContentLoaded", () => {
  const board = document.getElementById("dashboard");
  if (board && board.getAttribute("data-poll")) {
    window.setTimeout(() => poll(board.getAttribute("data-poll")), 2000);
  }
});
