// Task manager UI of the observability lab. Plain JavaScript, no libraries, no CDN: it must work
// on a host without internet. Every request carries a fresh W3C traceparent, so the trace id shown
// in the activity table is the one to search for in the trace store, the logs and the exemplars.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const MAX_ACTIVITY = 25;

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

  function logActivity(label, status, ms, traceId) {
    const row = document.createElement("tr");
    const cells = [new Date().toLocaleTimeString(), label, String(status), ms.toFixed(0), traceId];
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
    const trace = newTraceparent();
    const headers = { traceparent: trace.header, Accept: "application/json" };
    const options = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const started = performance.now();
    let status = 0;
    let data = null;
    try {
      const response = await fetch(path, options);
      status = response.status;
      const text = await response.text();
      try {
        data = text ? JSON.parse(text) : null;
      } catch (_e) {
        data = { error: text.slice(0, 200) };
      }
    } catch (e) {
      data = { error: `network error: ${e.message}` };
    }
    logActivity(`${method} ${path}`, status, performance.now() - started, trace.traceId);
    return { ok: status >= 200 && status < 300, status, data };
  }

  function renderTasks(tasks) {
    const list = $("task-list");
    list.replaceChildren();
    for (const task of tasks) {
      const item = document.createElement("li");
      item.className = task.completed ? "task done" : "task";

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
    const result = await api("GET", "/api/tasks?limit=200");
    if (!result.ok || !result.data) return;
    const tasks = result.data.tasks || [];
    renderTasks(tasks);
    const done = tasks.filter((t) => t.completed).length;
    $("stat-total").textContent = String(result.data.count);
    $("stat-done").textContent = String(done);
    $("stat-open").textContent = String(tasks.length - done);
  }

  async function updateTask(id, fields) {
    await api("PUT", `/api/tasks/${id}`, fields);
    await loadTasks();
  }

  async function deleteTask(id) {
    await api("DELETE", `/api/tasks/${id}`);
    await loadTasks();
  }

  function showFormError(message) {
    const el = $("form-error");
    el.textContent = message || "";
    el.hidden = !message;
  }

  async function onSubmit(event) {
    event.preventDefault();
    const title = $("task-title").value.trim();
    const description = $("task-description").value;
    if (!title) {
      showFormError("A title is required.");
      return;
    }
    const result = await api("POST", "/api/tasks", { title, description });
    if (!result.ok) {
      showFormError((result.data && result.data.error) || `request failed (${result.status})`);
      return;
    }
    showFormError("");
    $("task-form").reset();
    await loadTasks();
  }

  function clampNumber(input, min, max, fallback) {
    const value = Number(input.value);
    if (!Number.isFinite(value)) return fallback;
    return Math.min(max, Math.max(min, value));
  }

  async function bulkCreate() {
    const count = Math.round(clampNumber($("bulk-count"), 1, 100, 10));
    const stamp = new Date().toISOString().slice(11, 19);
    for (let i = 1; i <= count; i++) {
      await api("POST", "/api/tasks", { title: `Bulk task ${i}/${count} (${stamp})` });
    }
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
      api("GET", `/api/simulate-slow?delay=${clampNumber($("slow-delay"), 0, 10, 2)}`));
    $("btn-error").addEventListener("click", () => api("GET", "/api/simulate-error"));
    $("btn-bulk").addEventListener("click", bulkCreate);
    $("btn-smoke").addEventListener("click", () => {
      const ops = Math.round(clampNumber($("smoke-ops"), 1, 5000, 200));
      const type = encodeURIComponent($("smoke-type").value);
      return api("POST", `/api/smoke/db?ops=${ops}&type=${type}`);
    });
    loadTasks();
  });
})();
