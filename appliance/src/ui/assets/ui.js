// Outpost web UI: the only script, served from the box (no inline code: see the CSP).
// Confirms forms that ask to (data-confirm), and keeps the dashboard live by polling
// /ui/live.json every 2 s: the same cells (data-f) and the alerts list the server rendered,
// no full reload.
"use strict";

document.addEventListener("submit", (event) => {
  const question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

function badge(registered) {
  const span = document.createElement("span");
  span.className = registered ? "badge up" : "badge down";
  span.setAttribute("data-f", "state");
  span.textContent = registered ? "registered" : "unregistered";
  return span;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  return td;
}

function fill(live) {
  for (const key of ["registered", "unregistered", "calls", "leases", "mode", "last_backup", "cloud"]) {
    const el = document.querySelector(`#dashboard .tiles [data-f="${key}"]`);
    if (el) el.textContent = String(live[key]);
  }
  const phones = document.querySelector("#phones tbody");
  if (phones) {
    phones.replaceChildren(...live.extensions.map((x) => {
      const tr = document.createElement("tr");
      tr.setAttribute("data-ext", `${x.tenant}/${x.number}`);
      tr.append(cell(x.number), cell(x.name), cell(x.tenant));
      const td = document.createElement("td");
      td.appendChild(badge(x.registered));
      tr.appendChild(td);
      return tr;
    }));
  }
  const calls = document.querySelector("#calls-now tbody");
  if (calls && live.calls_now) {
    calls.replaceChildren(...live.calls_now.map((c) => {
      const tr = document.createElement("tr");
      tr.append(cell(c.caller), cell(c.dialled), cell(c.callee), cell(c.state), cell(c.time));
      const td = document.createElement("td");
      const span = document.createElement("span");
      span.className = `quality ${c.quality.replaceAll(" ", "-")}`;
      span.textContent = c.quality;
      td.appendChild(span);
      if (c.quality !== "no media yet") {
        td.append(` (${c.loss_pct} % lost, ${c.jitter_ms} ms jitter)`);
      }
      tr.appendChild(td);
      return tr;
    }));
    const none = document.getElementById("no-calls");
    if (none) none.hidden = live.calls_now.length > 0;
  }
  const trunks = document.querySelector("#trunks tbody");
  if (trunks) {
    trunks.replaceChildren(...live.trunks.map((t) => {
      const tr = document.createElement("tr");
      tr.append(cell(t.name), cell(t.tenant));
      const td = document.createElement("td");
      const span = document.createElement("span");
      span.className = `badge ${t.state}`;
      span.textContent = t.state;
      td.appendChild(span);
      tr.appendChild(td);
      return tr;
    }));
  }
  const alerts = document.getElementById("alert-list");
  if (alerts && live.alerts) {
    const items = live.alerts.map((a) => {
      const li = document.createElement("li");
      li.className = `alert ${a.severity}`;
      li.setAttribute("data-alert", a.key);
      const link = document.createElement("a");
      link.href = a.link;
      link.textContent = a.text;
      li.appendChild(link);
      return li;
    });
    if (items.length === 0) {
      const li = document.createElement("li");
      li.className = "hint";
      li.id = "no-alerts";
      li.textContent = "Nothing needs attention.";
      items.push(li);
    }
    alerts.replaceChildren(...items);
  }
  // The extensions page shows states too: update its badges in place.
  for (const x of live.extensions) {
    const row = document.querySelector(`#extensions tr[data-ext="${x.tenant}/${x.number}"] [data-f="state"]`);
    if (row) row.replaceWith(badge(x.registered));
  }
}

async function poll() {
  try {
    const resp = await fetch("/ui/live.json", { credentials: "same-origin", headers: { accept: "application/json" } });
    if (resp.redirected || !resp.ok) return;
    fill(await resp.json());
  } catch (_) {
    // The box restarting: try again at the next tick.
  }
}

if (document.getElementById("dashboard") || document.getElementById("extensions")) {
  setInterval(poll, 2000);
}
