/** Sends one chat message to the host (`POST /api/chat`) and yields its events as they stream
 * in. fetch + ReadableStream rather than EventSource: EventSource can neither POST a body nor
 * send the bearer token. */
import { type ChatEvent, readEvents } from "./events";

export interface ChatRequest {
  message: string;
  session_id: string | null;
  context: Record<string, unknown> | null;
}

export type FailureCode = "UNAUTHENTICATED" | "NETWORK" | "NO_MODEL" | "SESSION_GONE" | "REFUSED";

/** Why a message got no (complete) answer, in words the customer can act on. */
export class ChatFailure extends Error {
  readonly code: FailureCode;

  constructor(code: FailureCode, message: string) {
    super(message);
    this.name = "ChatFailure";
    this.code = code;
  }
}

export const FAILURES: Record<FailureCode, string> = {
  UNAUTHENTICATED: "Your session has ended; please sign in again.",
  NETWORK: "The connection dropped before the concierge answered. Check your connection and send it again.",
  NO_MODEL: "The concierge is not available right now. Everything else on this page still works.",
  SESSION_GONE: "This conversation has ended; a new one has started.",
  REFUSED: "The concierge could not take that message; please try again.",
};

function failure(code: FailureCode): ChatFailure {
  return new ChatFailure(code, FAILURES[code]);
}

export async function* sendChat(
  url: string,
  token: () => Promise<string | null>,
  request: ChatRequest,
  fetchImpl: typeof fetch = fetch,
): AsyncGenerator<ChatEvent> {
  const current = await token();
  if (current === null) {
    throw failure("UNAUTHENTICATED");
  }
  let response: Response;
  try {
    response = await fetchImpl(url, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${current}`,
        "Content-Type": "application/json",
        Accept: "text/event-stream",
      },
      body: JSON.stringify(request),
    });
  } catch {
    throw failure("NETWORK");
  }
  if (!response.ok || response.body === null) {
    switch (response.status) {
      case 401:
        throw failure("UNAUTHENTICATED");
      case 404:
        throw failure("SESSION_GONE");
      case 503:
        throw failure("NO_MODEL");
      default:
        throw failure("REFUSED");
    }
  }
  let finished = false;
  try {
    for await (const event of readEvents(response.body)) {
      finished ||= event.type === "done";
      yield event;
    }
  } catch {
    throw failure("NETWORK");
  }
  if (!finished) {
    throw failure("NETWORK");
  }
}
