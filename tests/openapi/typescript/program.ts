// A small client of chat-core written against the types openapi-typescript generates
// from /openapi.json (./api.d.ts); `tsc --noEmit --strict` must accept it as it stands.
import createClient from "openapi-fetch";
import type { components, paths } from "./api";

type StreamEvent = components["schemas"]["StreamEvent"];
type ClientFrame = components["schemas"]["ClientFrame"];
type ServerFrame = components["schemas"]["ServerFrame"];

const client = createClient<paths>({ baseUrl: "http://127.0.0.1:8080" });
const context = { "X-Tenant-Id": "t_acme", "X-Env": "dev" } as const;

// A post that leaves role to its default (user) needs only content.
export async function postHello(threadId: string): Promise<string> {
  const { data, error } = await client.POST("/chat/threads/{thread_id}/messages", {
    params: { path: { thread_id: threadId }, header: context },
    body: { content: "hello" },
  });
  if (error !== undefined) {
    return error.detail;
  }
  return `${data.id} ${data.seq} ${data.role}`;
}

export async function firstTitles(): Promise<(string | null)[]> {
  const { data } = await client.GET("/chat/threads", {
    params: { header: context, query: { limit: 5 } },
  });
  return data === undefined ? [] : data.data.map((thread) => thread.title);
}

// A browser's stream needs only its ticket: no context headers.
type EventsRequest = paths["/chat/threads/{thread_id}/events"]["get"]["parameters"];
export const viaTicket: EventsRequest = {
  path: { thread_id: "th_x" },
  query: { ticket: "tk_x", last_event_id: 3 },
};
type SocketRequest = paths["/chat/ws"]["get"]["parameters"];
export const socketViaTicket: SocketRequest = { query: { ticket: "tk_x" } };

// Each event type's data has its own shape, told apart by `type`.
export function words(event: StreamEvent): string | null {
  switch (event.type) {
    case "chat.thread.created":
      return event.data.title;
    case "chat.message.posted":
      return event.data.redacted ? null : event.data.content;
    case "chat.message.redacted":
      return `${event.data.message_id} withdrawn at seq ${event.data.seq}`;
    default:
      return null;
  }
}

export const subscribe: ClientFrame = { op: "subscribe", id: 1, thread_id: "th_x", after: 0 };
export const post: ClientFrame = { op: "post", id: "p1", thread_id: "th_x", content: "hi" };

export function onFrame(frame: ServerFrame): string | null {
  switch (frame.op) {
    case "event":
      return words(frame.event);
    case "error":
      return `${frame.status} ${frame.detail}`;
    case "ack":
      return frame.message === undefined ? null : frame.message.content;
  }
}
