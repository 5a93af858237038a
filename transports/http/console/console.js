// chat-core dev console: plain browser JavaScript, no build step, no third-party code.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { threadId: null, lastVersion: 0, source: null, seen: new Set() };
const THREAD_KEY = "chat-core-console-thread";
// How each end of a generation leaves its message.
const ENDS = {
  "chat.message.completed": "complete", "chat.message.cancelled": "cancelled", "chat.message.failed": "failed",
};

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
  const withdrawn = Boolean(message.redacted || message.erased);
  const text = withdrawn ? "" : message.content || "";
  content.textContent = withdrawn ? (message.erased ? "(erased)" : "(redacted)") : text;
  // Characters shown, counted as the server counts a chunk's `length` (code points).
  item.dataset.length = String(codePoints(text));
  item.dataset.nextIndex = "0";
  item.dataset.withdrawn = withdrawn ? "true" : "";
  item.append(meta, content);
  const status = message.status || "complete";
  if (status !== "complete") showReplyStatus(item, status, message.error);
  const list = $("messages");
  const later = Array.from(list.children).find((other) => Number(other.dataset.seq) > message.seq);
  list.insertBefore(item, later || null);
  list.scrollTop = list.scrollHeight;
}

function codePoints(text) {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

function messageItem(messageId) {
  return Array.from($("messages").children).find((item) => item.dataset.messageId === messageId) || null;
}

function messagePath(threadId, messageId) {
  return "/chat/threads/" + encodeURIComponent(threadId) + "/messages/" + encodeURIComponent(messageId);
}

// A reply's state under its text: "writing…" with a Stop button while in progress, else how it ended.
function showReplyStatus(item, status, error) {
  item.dataset.status = status;
  item.classList.toggle("writing", status === "in_progress");
  let row = item.querySelector(".generation");
  if (!row) {
    row = document.createElement("div");
    row.className = "generation";
    item.append(row);
  }
  const label = document.createElement("span");
  label.className = "status " + status.replace("_", "-");
  label.textContent = status === "in_progress" ? "writing…" : status === "failed" && error ? "failed: " + error : status;
  row.replaceChildren(label);
  if (status !== "in_progress") return;
  const stop = document.createElement("button");
  stop.type = "button";
  stop.className = "small stop";
  stop.textContent = "Stop";
  stop.addEventListener("click", () => stopReply(item, stop));
  row.append(stop);
}

async function stopReply(item, button) {
  const threadId = state.threadId;
  button.disabled = true;
  try {
    const message = await api("POST", messagePath(threadId, item.dataset.messageId) + "/cancel", {});
    if (threadId !== state.threadId) return;
    // The answer holds the text so far, which may be ahead of the chunks streamed yet.
    if (typeof message.content === "string" && codePoints(message.content) > Number(item.dataset.length)) {
      item.querySelector(".content").textContent = message.content;
      item.dataset.length = String(codePoints(message.content));
    }
    showReplyStatus(item, message.status, message.error);
  } catch (error) {
    button.disabled = false;
    showError(error);
  }
}

// Append a chunk in index order. One already shown (in a page read, or a stream replaying
// after a reconnect) is skipped by its `length`; one past what is shown means a chunk was
// missed, so the messages are read again.
function appendChunk(threadId, chunk) {
  const item = messageItem(chunk.message_id);
  if (!item || item.dataset.status !== "in_progress" || item.dataset.withdrawn) return;
  if (typeof chunk.content !== "string") return;
  const shown = Number(item.dataset.length);
  const next = Number(item.dataset.nextIndex);
  if (chunk.index < next || chunk.length <= shown) {
    item.dataset.nextIndex = String(Math.max(next, chunk.index + 1));
    return;
  }
  if (chunk.length - codePoints(chunk.content) !== shown) {
    reloadMessages(threadId);
    return;
  }
  item.querySelector(".content").append(chunk.content);
  item.dataset.length = String(chunk.length);
  item.dataset.nextIndex = String(chunk.index + 1);
}

function endReply(data, status) {
  const item = messageItem(data.message_id);
  if (item) showReplyStatus(item, status, data.error);
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
  if (envelope.type === "chat.message.chunk") return appendChunk(threadId, data);
  if (envelope.type in ENDS) return endReply(data, ENDS[envelope.type]);
  const isMessage = envelope.type === "chat.message.posted";
  const started = data.status === "in_progress" && !data.redacted && !data.erased;
  if (isMessage && (typeof data.content === "string" || started) && data.seq) {
    renderMessage(Object.assign({ id: data.message_id }, data), true);
  } else if (isMessage || envelope.type !== "chat.thread.created") {
    reloadMessages(threadId);
  }
}

function reloadMessages(threadId) {
  $("messages").replaceChildren();
  state.seen.clear();
  loadMessages(threadId).catch(showError);
}

async function openThread(thread) {
  state.threadId = thread.id;
  // A reload of the page comes back to this thread (see the session form).
  sessionStorage.setItem(THREAD_KEY, thread.id);
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
    await reopenThread();
  } catch (error) {
    showError(error);
  }
});

async function reopenThread() {
  const threadId = sessionStorage.getItem(THREAD_KEY);
  if (!threadId || threadId === state.threadId) return;
  let thread;
  try {
    thread = await api("GET", "/chat/threads/" + encodeURIComponent(threadId));
  } catch (error) {
    sessionStorage.removeItem(THREAD_KEY);  // gone, or of another tenant or env
    return;
  }
  await openThread(thread);
}

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
