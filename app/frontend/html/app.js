// Task manager UI of the observability lab. Plain JavaScript, no libraries, no CDN: it must work
// on a host without internet, and without otel-web.js (the page's OpenTelemetry SDK, loaded before
// this file). When that SDK runs (window.labTracing), its fetch instrumentation gives each /api/
// request the traceparent of its own span; when it does not, this file sends a fresh traceparent
// itself. Either way the activity table shows the trace id the backend reports (X-Trace-Id): the
// one to search for in the trace store, the logs and the exemplars.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const MAX_ACTIVITY = 25;
  const LIST_LIMIT = 200;

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function randomHex(byteCount) {
    const bytes = new Uint8Array(byteCount);
    crypto.getRandomValues(bytes);
    // an all-zero id is invalid in W3C trace context
    if (bytes.every((b) => b === 0)) bytes[byteCount - 1] = 1;
    return hex(bytes);
  }

  function newTraceparent() {
    const traceId = randomHex(16);
    return { traceId, header: `00-${traceId}-${randomHex(8)}-01` };
  }

  function tracedByTheSdk() {
    return Boolean(window.labTracing && window.labTracing.active);
  }

  function logActivity(label, status, ms, traceId) {
    const row = document.createElement("tr");
    const cells = [new Date().toLocaleTimeString(), label, status ? String(status) : "no answer",
      ms.toFixed(0), traceId || "–"];
    cells.forEach((text, i) => {
      const cell = document.createElement("td");
      cell.textContent = text;
      if (i === 2) cell.className = status >= 500 || status === 0 ? "bad" : status >= 400 ? "warn" : "ok";
      if (i === 4) cell.className = "mono";
      row.appendChild(cell);
    });
    const body = $("activity");
    body.insertBefore(row, body.firstChild);
    while (body.children.length > MAX_ACTIVITY) body.removeChild(body.lastChild);
    $("stat-latency").textContent = `${ms.toFixed(0)} ms`;
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    // without the SDK, this request still gets a trace id of the page's choosing
    const own = tracedByTheSdk() ? null : newTraceparent();
    if (own) headers.traceparent = own.header;
    const options = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const started = performance.now();
    let status = 0;
    let data = null;
    let traceId = own ? own.traceId : null;
    try {
      const response = await fetch(path, options);
      status = response.status;
      traceId = response.headers.get("X-Trace-Id") || traceId;
      const text = await response.text();
      try {
        data = text ? JSON.parse(text) : null;
      } catch (_e) {
        data = { error: text.slice(0, 200) };
      }
    } catch (e) {
      data = { error: `network error: ${e.message}` };
    }
    logActivity(`${method} ${path}`, status, performance.now() - started, traceId);
    return { ok: status >= 200 && status < 300, status, data, traceId };
  }

  // One readable sentence for a failed request: what the server said, its status and trace id.
  function failure(what, result) {
    if (!result.status) return `${what} failed: the front could not be reached.`;
    const said = result.data && typeof result.data.error === "string" ? result.data.error : "no reason given";
    const trace = result.traceId ? ` Trace id ${result.traceId}.` : "";
    return `${what} failed: ${said} (HTTP ${result.status}).${trace}`;
  }

  function showMessage(id, message) {
    const el = $(id);
    el.textContent = message || "";
    el.hidden = !message;
  }

  function renderTasks(tasks) {
    const list = $("task-list");
    list.replaceChildren();
    for (const task of tasks) {
      const item = document.createElement("li");
      item.className = task.completed ? "task done" : "task";
      item.dataset.taskId = String(task.id);

      const toggle = document.createElement("input");
      toggle.type = "checkbox";
      toggle.checked = task.completed;
      toggle.setAttribute("aria-label", `Mark "${task.title}" as ${task.completed ? "open" : "completed"}`);
      toggle.addEventListener("change", () => updateTask(task.id, { completed: toggle.checked }));

      const text = document.createElement("div");
      text.className = "task-text";
      const title = document.createElement("span");
      title.className = "task-title";
      title.textContent = task.title;
      text.appendChild(title);
      if (task.description) {
        const description = document.createElement("span");
        description.className = "task-description";
        description.textContent = task.description;
        text.appendChild(description);
      }

      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "icon danger";
      remove.textContent = "Delete";
      remove.addEventListener("click", () => deleteTask(task.id));

      item.append(toggle, text, remove);
      list.appendChild(item);
    }
    $("empty").hidden = tasks.length > 0;
  }

  async function loadTasks() {
    const result = await api("GET", `/api/tasks?limit=${LIST_LIMIT}`);
    if (!result.ok || !result.data) {
      showMessage("list-error", failure("Loading the tasks", result));
      return;
    }
    showMessage("list-error", "");
    const tasks = result.data.tasks || [];
    renderTasks(tasks);
    const done = tasks.filter((t) => t.completed).length;
    $("stat-total").textContent = String(result.data.count);
    $("stat-done").textContent = String(done);
    $("stat-open").textContent = String(tasks.length - done);
    // completed/open are counted over the tasks shown: say so when not all of them are
    const partial = result.data.count > tasks.length;
    $("stats-scope").hidden = !partial;
    $("stats-scope").textContent = partial
      ? `Completed and open count the newest ${tasks.length} of ${result.data.count} tasks.`
      : "";
  }

  async function updateTask(id, fields) {
    const result = await api("PUT", `/api/tasks/${id}`, fields);
    showMessage("list-error", result.ok ? "" : failure("Updating the task", result));
    await loadTasks();
  }

  async function deleteTask(id) {
    const result = await api("DELETE", `/api/tasks/${id}`);
    showMessage("list-error", result.ok ? "" : failure("Deleting the task", result));
    await loadTasks();
  }

  async function onSubmit(event) {
    event.preventDefault();
    const title = $("task-title").value.trim();
    const description = $("task-description").value;
    if (!title) {
      showMessage("form-error", "A title is required.");
      return;
    }
    const result = await api("POST", "/api/tasks", { title, description });
    if (!result.ok) {
      showMessage("form-error", failure("Adding the task", result));
      return;
    }
    showMessage("form-error", "");
    $("task-form").reset();
    await loadTasks();
  }

  // The signal buttons: say what happened (an error is the point of "Simulate error").
  async function signal(what, method, path) {
    const result = await api(method, path);
    showMessage("signal-result", result.ok ? `${what}: done (HTTP ${result.status}).` : failure(what, result));
    $("signal-result").className = result.ok ? "ok-note" : "error";
    return result;
  }

  function clampNumber(input, min, max, fallback) {
    const value = Number(input.value);
    if (!Number.isFinite(value)) return fallback;
    return Math.min(max, Math.max(min, value));
  }

  async function bulkCreate() {
    const count = Math.round(clampNumber($("bulk-count"), 1, 100, 10));
    const stamp = new Date().toISOString().slice(11, 19);
    let failed = null;
    let created = 0;
    for (let i = 1; i <= count; i++) {
      const result = await api("POST", "/api/tasks", { title: `Bulk task ${i}/${count} (${stamp})` });
      if (result.ok) created++;
      else failed = failed || result;
    }
    showMessage("signal-result", failed ? `${created} of ${count} created. ${failure("Bulk create", failed)}`
      : `Bulk create: ${created} tasks created.`);
    $("signal-result").className = failed ? "error" : "ok-note";
    await loadTasks();
  }

  function toolLinks() {
    const host = window.location.hostname || "localhost";
    const scheme = window.location.protocol === "https:" ? "https:" : "http:";
    $("link-grafana").href = `${scheme}//${host}:3000/`;
    $("link-prometheus").href = `${scheme}//${host}:9090/`;
    $("link-jaeger").href = `${scheme}//${host}:16686/`;
  }

  document.addEventListener("DOMContentLoaded", () => {
    toolLinks();
    $("task-form").addEventListener("submit", onSubmit);
    $("refresh").addEventListener("click", loadTasks);
    $("btn-slow").addEventListener("click", () =>
      signal("Slow request", "GET", `/api/simulate-slow?delay=${clampNumber($("slow-delay"), 0, 10, 2)}`));
    $("btn-error").addEventListener("click", () => signal("Simulate error", "GET", "/api/simulate-error"));
    $("btn-bulk").addEventListener("click", bulkCreate);
    $("btn-smoke").addEventListener("click", () => {
      const ops = Math.round(clampNumber($("smoke-ops"), 1, 5000, 200));
      const type = encodeURIComponent($("smoke-type").value);
      return signal("DB smoke", "POST", `/api/smoke/db?ops=${ops}&type=${type}`);
    });
    loadTasks();
  });
})();
