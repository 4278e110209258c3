// Progressive enhancement: the pages work without this file. It adds the live alert feed
// (Server-Sent Events from /ui/alerts/stream, the session cookie authenticates it) and asks
// for confirmation where a form says data-confirm.
"use strict";

const BADGES = {"newly-eligible": "Now eligible", "no-longer-eligible": "No longer eligible",
                "closed": "Trial closed"};

function alertRow(alert, csrf) {
  const row = document.createElement("tr");
  row.className = "alert fresh " + alert.kind;
  row.dataset.alert = alert.alert_id;
  const cell = (text) => { const td = document.createElement("td"); td.textContent = text; return td; };
  const when = document.createElement("td");
  const time = document.createElement("time");
  time.dateTime = alert.datetime; time.textContent = alert.when;
  when.appendChild(time);
  row.appendChild(when);
  row.appendChild(cell(alert.trial_name || alert.trial_id));
  const headline = document.createElement("td");
  headline.className = "headline";
  const badge = document.createElement("span");
  badge.className = "badge " + alert.kind;
  badge.textContent = BADGES[alert.kind] || alert.kind;
  headline.append(badge, " " + alert.headline);
  row.appendChild(headline);
  const patient = document.createElement("td");
  const link = document.createElement("a");
  link.href = "/ui/patients/" + encodeURIComponent(alert.patient_key) + "/trials/" + encodeURIComponent(alert.trial_id);
  link.textContent = alert.patient_key;
  patient.appendChild(link);
  row.appendChild(patient);
  const ack = document.createElement("td");
  const form = document.createElement("form");
  form.method = "post";
  form.className = "inline";
  form.action = "/ui/alerts/" + encodeURIComponent(alert.alert_id) + "/acknowledge";
  for (const [name, value] of [["csrf", csrf], ["back", location.pathname + location.search]]) {
    const input = document.createElement("input");
    input.type = "hidden"; input.name = name; input.value = value;
    form.appendChild(input);
  }
  const button = document.createElement("button");
  button.type = "submit"; button.textContent = "Acknowledge";
  form.appendChild(button);
  ack.appendChild(form);
  row.appendChild(ack);
  return row;
}

function startLiveAlerts() {
  const live = document.getElementById("live");
  const rows = document.getElementById("alert-rows");
  if (!live || !rows || !window.EventSource) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const trial = live.dataset.trial;
  const source = new EventSource("/ui/alerts/stream" + (trial ? "?trial=" + encodeURIComponent(trial) : ""));
  source.onopen = () => { live.textContent = "Live: new alerts appear here as they happen"; live.classList.add("on"); };
  source.onerror = () => { live.textContent = "Live updates interrupted, reconnecting…"; live.classList.remove("on"); };
  source.addEventListener("alert", (event) => {
    const alert = JSON.parse(event.data);
    if (rows.querySelector('[data-alert="' + alert.alert_id + '"]')) return;
    const empty = document.getElementById("no-alerts");
    if (empty) empty.remove();
    rows.prepend(alertRow(alert, csrf));
  });
}

document.addEventListener("submit", (event) => {
  const button = event.submitter;
  if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) event.preventDefault();
});
document.addEventListener("DOMContentLoaded", startLiveAlerts);
