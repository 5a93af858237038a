// Follow a thread's events in a browser so that the stream recovers by itself (after a
// server restart, a dropped connection or a token refresh) without losing or repeating
// an event. Plain browser JavaScript: copy it, or load it as a classic script.
//
// A stream ticket is good once, and an EventSource left to itself reconnects to the URL it
// was given: the used ticket is refused (401) and the source stays closed for good. So on
// any error the source is closed here, a fresh ticket is taken with the caller's current
// token, and a new source opens after the last event seen (?last_event_id=), after a
// growing, jittered delay. The server sends every later event once, in order; an event at
// or below the last version seen is dropped all the same.
"use strict";

const CHAT_CORE_EVENT_TYPES = [
  "chat.thread.created", "chat.message.posted", "chat.message.redacted", "chat.erasure.recorded",
  "chat.message.chunk", "chat.message.completed", "chat.message.cancelled", "chat.message.failed",
];

function followThread({
  baseUrl = "", threadId, takeTicket, onEvent, onState = () => {}, lastEventId = 0,
  types = CHAT_CORE_EVENT_TYPES, minDelay = 500, maxDelay = 30000,
}) {
  let last = Number(lastEventId) || 0;
  let source = null;
  let timer = null;
  let failures = 0;
  let closed = false;

  function retry(reason) {
    if (closed) return;
    onState("reconnecting", reason);
    const delay = Math.min(maxDelay, minDelay * 2 ** failures) * (0.5 + Math.random() / 2);
    failures += 1;
    timer = setTimeout(connect, delay);
  }

  async function connect() {
    timer = null;
    let ticket;
    try {
      ticket = await takeTicket(threadId);  // POST /chat/stream-tickets with the current token
    } catch (error) {
      return retry(error);
    }
    if (closed) return;
    const url = baseUrl + "/chat/threads/" + encodeURIComponent(threadId) + "/events?ticket=" +
      encodeURIComponent(ticket) + "&last_event_id=" + last;
    const current = new EventSource(url);
    source = current;
    current.onopen = () => { failures = 0; onState("live"); };
    current.onerror = () => {
      current.close();  // never let it retry with the used ticket
      if (source !== current) return;
      source = null;
      retry(new Error("the event stream was interrupted"));
    };
    for (const type of types) {
      current.addEventListener(type, (event) => {
        const version = Number(event.lastEventId);
        if (!(version > last)) return;
        last = version;
        onEvent(JSON.parse(event.data), event);
      });
    }
  }

  connect();
  return {
    get lastEventId() { return last; },
    close() {
      closed = true;
      clearTimeout(timer);
      if (source) source.close();
      source = null;
    },
  };
}
