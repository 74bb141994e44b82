// Outpost fleet dashboard: the only script (no inline code: see the CSP). It asks before
// destructive forms, filters the fleet list as the operator types, and keeps the fleet list and
// the box page live by polling their JSON every 2 s, updating cells in place.
"use strict";

document.addEventListener("submit", (event) => {
  const question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

function text(el, value) {
  if (el && el.textContent !== String(value)) el.textContent = String(value);
}

function list(ul, items) {
  if (!ul) return;
  const now = Array.from(ul.children).map((li) => li.textContent).join("\n");
  if (now === items.join("\n")) return;
  ul.replaceChildren(...items.map((a) => {
    const li = document.createElement("li");
    li.textContent = a;
    return li;
  }));
}

// The fleet list --------------------------------------------------------------------------

function filterRows() {
  const form = document.getElementById("filter");
  if (!form) return;
  const state = form.elements.state.value;
  const q = form.elements.q.value.trim().toLowerCase();
  for (const tr of document.querySelectorAll("#fleet tbody tr")) {
    const s = tr.getAttribute("data-state");
    const okState = state === "" || (state === "alerts" ? tr.getAttribute("data-alerts") !== "0" : s === state);
    const okText = q === "" || (tr.getAttribute("data-text") || "").includes(q);
    tr.hidden = !(okState && okText);
  }
}

function newRow(b) {
  const tr = document.createElement("tr");
  tr.setAttribute("data-box", b.id);
  const td = (label, field) => {
    const cell = document.createElement("td");
    cell.setAttribute("data-label", label);
    if (field) cell.setAttribute("data-f", field);
    tr.appendChild(cell);
    return cell;
  };
  const first = td("Box");
  const a = document.createElement("a");
  a.href = "/box/" + encodeURIComponent(b.id);
  a.textContent = b.id;
  const small = document.createElement("small");
  small.setAttribute("data-f", "tenant");
  first.append(a, document.createElement("br"), small);
  const st = td("State");
  const badge = document.createElement("span");
  badge.setAttribute("data-f", "state");
  const seen = document.createElement("small");
  seen.setAttribute("data-f", "seen");
  st.append(badge, " ", seen);
  td("Mode", "mode"); td("Version", "version"); td("Phones", "registrations");
  td("Calls", "calls"); td("Config", "revision"); td("Last backup", "backup");
  const ul = document.createElement("ul");
  ul.className = "alerts";
  ul.setAttribute("data-f", "alerts");
  td("Alerts").appendChild(ul);
  return tr;
}

function showFleet(data) {
  const tbody = document.querySelector("#fleet tbody");
  if (!tbody) return;
  const rows = new Map(Array.from(tbody.children).map((tr) => [tr.getAttribute("data-box"), tr]));
  const order = [];
  for (const b of data.boxes) {
    const tr = rows.get(b.id) || newRow(b);
    rows.delete(b.id);
    tr.setAttribute("data-state", b.state);
    tr.setAttribute("data-alerts", String(b.alerts.length));
    tr.setAttribute("data-text", [b.id, b.tenant, b.version, b.alerts.join(" ")].join(" ").toLowerCase());
    for (const f of ["tenant", "seen", "mode", "version", "registrations", "calls", "revision", "backup", "state"]) {
      text(tr.querySelector('[data-f="' + f + '"]'), b[f]);
    }
    tr.querySelector('[data-f="state"]').className = "state " + b.state;
    list(tr.querySelector('[data-f="alerts"]'), b.alerts);
    order.push(tr);
  }
  for (const gone of rows.values()) gone.remove();
  order.forEach((tr, i) => {
    if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
  });
  text(document.getElementById("count-total"), data.boxes.length);
  text(document.getElementById("count-online"), data.boxes.filter((b) => b.state === "online").length);
  text(document.getElementById("count-alerts"), data.boxes.filter((b) => b.alerts.length > 0).length);
  const empty = document.getElementById("empty");
  if (empty) empty.hidden = data.boxes.length > 0;
  filterRows();
}

// The box page ----------------------------------------------------------------------------

function showBox(data) {
  for (const el of document.querySelectorAll("[data-live]")) {
    const value = data.fields[el.getAttribute("data-live")];
    if (value !== undefined) text(el, value);
  }
  const state = document.querySelector('h1 [data-live="state"]');
  if (state) state.className = "state " + data.fields.state;
  list(document.getElementById("alerts"), data.fields.alerts);
  const tbody = document.querySelector("#commands tbody");
  if (tbody) {
    const rows = data.commands.map((c) => {
      const tr = document.createElement("tr");
      tr.setAttribute("data-command", c.id);
      for (const v of [c.sent, c.what, c.result]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      }
      return tr;
    });
    const now = Array.from(tbody.children).map((tr) => tr.textContent).join("\n");
    if (now !== rows.map((tr) => tr.textContent).join("\n")) tbody.replaceChildren(...rows);
  }
}

// Polling ---------------------------------------------------------------------------------

function poll(main, url, show) {
  fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((r) => {
      // Logged out meanwhile (or the session ended): the reload lands on the login page.
      if (r.redirected || r.status === 401) {
        window.location.reload();
        return null;
      }
      return r.ok ? r.json() : null;
    })
    .then((data) => {
      if (data) {
        show(data);
        main.setAttribute("data-updated", String(Date.now()));
      }
    })
    .catch(() => {})
    .finally(() => window.setTimeout(() => poll(main, url, show), 2000));
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("filter");
  if (form) {
    form.addEventListener("input", filterRows);
    form.addEventListener("change", filterRows);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      filterRows();
      const params = new URLSearchParams(new FormData(form));
      window.history.replaceState(null, "", "/?" + params.toString());
    });
  }
  const main = document.querySelector("main[data-poll]");
  if (main) {
    const show = main.id === "fleet-page" ? showFleet : showBox;
    window.setTimeout(() => poll(main, main.getAttribute("data-poll"), show), 2000);
  }
});
