import { describe, expect, it } from "vitest";

import { sendChat } from "./client";
import { parseEvent, readEvents } from "./events";

function body(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) {
        controller.enqueue(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
      }
      controller.close();
    },
  });
}

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) {
    out.push(item);
  }
  return out;
}

describe("the chat's SSE stream", () => {
  it("yields each event whole, however the bytes are cut", async () => {
    const euro = new TextEncoder().encode('data: {"type":"text","delta":"5 €"}\n\n');
    const cut = euro.indexOf(0xe2) + 1; // inside the euro sign's three bytes
    const events = await all(
      readEvents(
        body([
          'data: {"type":"session","session_id":"s1"}\r\n\r\ndata: {"type":"te',
          'xt","delta":"Hi"}\n',
          "\n",
          euro.slice(0, cut),
          euro.slice(cut),
          ': a comment\n\ndata: {"type":"future_thing"}\n\ndata: {"type":"done"}',
        ]),
      ),
    );
    expect(events).toEqual([
      { type: "session", session_id: "s1" },
      { type: "text", delta: "Hi" },
      { type: "text", delta: "5 €" },
      { type: "done" },
    ]);
  });

  it("skips what is not a known event", () => {
    expect(parseEvent("not json")).toBeNull();
    expect(parseEvent("[1]")).toBeNull();
    expect(parseEvent('{"type":"text","delta":"x"}')).toEqual({ type: "text", delta: "x" });
  });
});

describe("sending a message", () => {
  const request = { message: "hi", session_id: null, context: null };
  const token = async () => "tok";

  it("posts the message with the bearer token and streams the answer", async () => {
    const seen: RequestInit[] = [];
    const fetchImpl = (async (_url: string, init: RequestInit) => {
      seen.push(init);
      return new Response(body(['data: {"type":"text","delta":"Hello"}\n\n', 'data: {"type":"done"}\n\n']));
    }) as typeof fetch;
    const events = await all(sendChat("/api/chat", token, request, fetchImpl));
    expect(events.map((event) => event.type)).toEqual(["text", "done"]);
    expect(new Headers(seen[0]?.headers).get("Authorization")).toBe("Bearer tok");
    expect(JSON.parse(String(seen[0]?.body))).toEqual(request);
  });

  it.each([
    [401, "UNAUTHENTICATED"],
    [404, "SESSION_GONE"],
    [503, "NO_MODEL"],
    [400, "REFUSED"],
  ])("turns a %i answer into %s", async (status, code) => {
    const fetchImpl = (async () => new Response("{}", { status })) as typeof fetch;
    await expect(all(sendChat("/api/chat", token, request, fetchImpl))).rejects.toMatchObject({ code });
  });

  it("calls a lost connection or a stream cut before `done` a network failure", async () => {
    const offline = (async () => {
      throw new TypeError("Failed to fetch");
    }) as typeof fetch;
    await expect(all(sendChat("/api/chat", token, request, offline))).rejects.toMatchObject({ code: "NETWORK" });
    const cut = (async () => new Response(body(['data: {"type":"text","delta":"Hel"}\n\n']))) as typeof fetch;
    await expect(all(sendChat("/api/chat", token, request, cut))).rejects.toMatchObject({ code: "NETWORK" });
  });

  it("asks to sign in again when there is no token", async () => {
    const fetchImpl = (async () => new Response("")) as typeof fetch;
    await expect(all(sendChat("/api/chat", async () => null, request, fetchImpl))).rejects.toMatchObject({
      code: "UNAUTHENTICATED",
    });
  });
});
