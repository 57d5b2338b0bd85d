/** The concierge's chat events (docs/ARCHITECTURE.md, "Chat request"): one JSON object per SSE
 * `data:` line, each with a `type`. */

export interface Choice {
  label: string;
  value: string;
  /** Set on the answers to a confirmation the host asked for (hold or pay). */
  confirmation_id?: string;
}

export type ChatEvent =
  | { type: "session"; session_id: string }
  | { type: "text"; delta: string }
  | { type: "tool_call"; id: string; name: string; arguments: Record<string, unknown> }
  | { type: "tool_result"; id: string; name: string; ok: boolean; summary: string }
  | { type: "options"; choices: Choice[] }
  | { type: "payment_required"; order_id: string; amount_cents: number; currency: string; hold_expires_at: string }
  | { type: "error"; code: string; message: string }
  | { type: "done"; usage?: { model_calls: number; input_tokens: number; output_tokens: number } };

const TYPES = new Set(["session", "text", "tool_call", "tool_result", "options", "payment_required", "error", "done"]);

/** One `data:` payload as an event, or null for anything this app does not know (a newer host
 * may add types; they are skipped rather than breaking the chat). */
export function parseEvent(data: string): ChatEvent | null {
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof raw !== "object" || raw === null) {
    return null;
  }
  const type = (raw as { type?: unknown }).type;
  return typeof type === "string" && TYPES.has(type) ? (raw as ChatEvent) : null;
}

/** The events of an SSE body as they arrive: events are separated by a blank line, and an
 * event's `data:` lines joined by newlines make its payload. A chunk may end anywhere, even
 * inside a UTF-8 character. */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ChatEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        buffer += decoder.decode();
        break;
      }
      buffer = (buffer + decoder.decode(value, { stream: true })).replace(/\r\n?/g, "\n");
      let end = buffer.indexOf("\n\n");
      while (end !== -1) {
        const event = dataOf(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        const parsed = event === null ? null : parseEvent(event);
        if (parsed !== null) {
          yield parsed;
        }
        end = buffer.indexOf("\n\n");
      }
    }
  } finally {
    reader.releaseLock();
  }
  const last = dataOf(buffer);
  const parsed = last === null ? null : parseEvent(last);
  if (parsed !== null) {
    yield parsed;
  }
}

function dataOf(block: string): string | null {
  const lines = block
    .split("\n")
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice(line.startsWith("data: ") ? 6 : 5));
  return lines.length === 0 ? null : lines.join("\n");
}
