// chat-core dev console: plain browser JavaScript, no build step, no third-party code.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { threadId: null, lastVersion: 0, source: null, seen: new Set() };

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.className = isError ? "error" : "muted";
}

function headers(extra) {
  const result = {
    "Authorization": "Bearer " + $("token").value.trim(),
    "X-Tenant-Id": $("tenant").value.trim(),
    "X-Env": $("env").value,
  };
  return Object.assign(result, extra || {});
}

async function api(method, path, body) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const detail = data && (data.detail || data.title) ? (data.detail || data.title) : response.statusText;
    throw new Error(response.status + ": " + detail);
  }
  return data;
}

function saveSession() {
  sessionStorage.setItem("chat-core-console", JSON.stringify({
    token: $("token").value.trim(), tenant: $("tenant").value.trim(), env: $("env").value,
  }));
}

function loadSession() {
  const saved = JSON.parse(sessionStorage.getItem("chat-core-console") || "null");
  if (!saved) return false;
  $("token").value = saved.token || "";
  $("tenant").value = saved.tenant || "t_dev";
  $("env").value = saved.env || "dev";
  return Boolean(saved.token);
}

async function loadThreads() {
  const page = await api("GET", "/chat/threads?limit=100");
  const list = $("threads");
  list.replaceChildren();
  for (const thread of page.data) {
    const item = document.createElement("li");
    item.dataset.threadId = thread.id;
    item.textContent = thread.title || thread.id;
    const small = document.createElement("small");
    small.textContent = thread.message_count + " messages · " + thread.id;
    item.append(small);
    if (thread.id === state.threadId) item.classList.add("selected");
    item.addEventListener("click", () => openThread(thread));
    list.append(item);
  }
  return page.data;
}

function renderMessage(message, live) {
  const key = message.id || ("seq-" + message.seq);
  if (state.seen.has(key)) return;
  state.seen.add(key);
  const item = document.createElement("li");
  item.dataset.seq = message.seq;
  item.dataset.messageId = message.id || "";
  if (live) item.classList.add("live");
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = ["#" + message.seq, message.role, message.author, message.created_at, live ? "live" : ""]
    .filter(Boolean).join(" · ");
  const content = document.createElement("div");
  content.className = "content";
  if (message.redacted || message.erased) {
    content.textContent = message.erased ? "(erased)" : "(redacted)";
  } else {
    content.textContent = message.content;
  }
  item.append(meta, content);
  const list = $("messages");
  const later = Array.from(list.children).find((other) => Number(other.dataset.seq) > message.seq);
  list.insertBefore(item, later || null);
  list.scrollTop = list.scrollHeight;
}

async function loadMessages(threadId) {
  let after = null;
  do {
    const query = "?order=asc&limit=100" + (after ? "&after=" + encodeURIComponent(after) : "");
    const page = await api("GET", "/chat/threads/" + encodeURIComponent(threadId) + "/messages" + query);
    if (threadId !== state.threadId) return;
    page.data.forEach((message) => renderMessage(message, false));
    after = page.has_more ? page.next : null;
  } while (after);
}

function closeStream() {
  if (state.source) state.source.close();
  state.source = null;
}

function openStream(threadId) {
  closeStream();
  // followThread (stream.js) takes a fresh single-use ticket for every connection and
  // resumes after the last version seen, retrying with backoff until the server answers.
  state.source = followThread({
    threadId,
    lastEventId: state.lastVersion,
    maxDelay: 10000,
    takeTicket: async () => (await api("POST", "/chat/stream-tickets", { thread_id: threadId })).ticket,
    onEvent: (envelope) => onEvent(threadId, envelope),
    onState: (name) => {
      if (threadId === state.threadId) $("live").textContent = name === "live" ? "● live" : "reconnecting…";
    },
  });
}

function onEvent(threadId, envelope) {
  if (threadId !== state.threadId) return;
  state.lastVersion = Math.max(state.lastVersion, envelope.version);
  const data = envelope.data || {};
  const isMessage = envelope.type === "chat.message.posted";
  if (isMessage && typeof data.content === "string" && data.seq) {
    renderMessage(Object.assign({ id: data.message_id }, data), true);
  } else if (isMessage || envelope.type !== "chat.thread.created") {
    $("messages").replaceChildren();
    state.seen.clear();
    loadMessages(threadId).catch(showError);
  }
}

async function openThread(thread) {
  state.threadId = thread.id;
  state.lastVersion = 0;
  state.seen.clear();
  $("thread-title-view").textContent = thread.title || thread.id;
  $("messages").replaceChildren();
  $("live").textContent = "connecting…";
  for (const item of $("threads").children) {
    item.classList.toggle("selected", item.dataset.threadId === thread.id);
  }
  await loadMessages(thread.id);
  // From version 0: stored events replay (already shown, so skipped by id), then live ones.
  openStream(thread.id);
}

function showError(error) {
  setStatus(String(error.message || error), true);
}

$("session-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  saveSession();
  try {
    const threads = await loadThreads();
    setStatus("Connected to " + $("tenant").value + " / " + $("env").value + ": " + threads.length + " threads.");
  } catch (error) {
    showError(error);
  }
});

$("refresh").addEventListener("click", () => loadThreads().catch(showError));

$("new-thread").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const title = $("thread-title").value.trim();
    const thread = await api("POST", "/chat/threads", title ? { title } : {});
    $("thread-title").value = "";
    await loadThreads();
    await openThread(thread);
  } catch (error) {
    showError(error);
  }
});

$("new-message").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!state.threadId) return showError(new Error("pick or create a thread first"));
  try {
    const content = $("message-content").value;
    const message = await api("POST", "/chat/threads/" + encodeURIComponent(state.threadId) + "/messages",
      { role: $("role").value, content });
    $("message-content").value = "";
    renderMessage(message, false);
  } catch (error) {
    showError(error);
  }
});

if (loadSession()) $("session-form").requestSubmit();
