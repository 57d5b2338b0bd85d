import { describe, expect, it } from "vitest";

import type { ChatEvent } from "./events";
import { EMPTY, apply, choose, say, type Transcript } from "./transcript";

function play(events: ChatEvent[], start: Transcript = EMPTY): Transcript {
  return events.reduce(apply, start);
}

describe("the transcript", () => {
  it("joins streamed words into one entry until something else happens", () => {
    const transcript = play([
      { type: "session", session_id: "s1" },
      { type: "text", delta: "One " },
      { type: "text", delta: "two." },
      { type: "tool_call", id: "a", name: "list_my_tickets", arguments: {} },
      { type: "text", delta: "Three." },
      { type: "done" },
    ]);
    expect(transcript.sessionId).toBe("s1");
    expect(transcript.entries.map((entry) => entry.kind)).toEqual(["concierge", "step", "concierge"]);
    expect(transcript.entries[0]).toEqual({ kind: "concierge", text: "One two." });
  });

  it("settles each step by its id, and only once", () => {
    const transcript = play([
      { type: "tool_call", id: "a", name: "quote_upgrade", arguments: {} },
      { type: "tool_call", id: "b", name: "select_upgrade", arguments: {} },
      { type: "tool_result", id: "b", name: "select_upgrade", ok: false, summary: "that day is sold out" },
      { type: "tool_result", id: "a", name: "quote_upgrade", ok: true, summary: "done" },
      { type: "tool_result", id: "a", name: "quote_upgrade", ok: false, summary: "late duplicate" },
    ]);
    expect(transcript.entries).toEqual([
      { kind: "step", id: "a", name: "quote_upgrade", state: "done", summary: null },
      { kind: "step", id: "b", name: "select_upgrade", state: "failed", summary: "that day is sold out" },
    ]);
  });

  it("shows a step that stopped for a confirmation as waiting, and a chosen answer once", () => {
    const asked = play([
      { type: "tool_call", id: "a", name: "select_upgrade", arguments: {} },
      { type: "tool_result", id: "a", name: "select_upgrade", ok: false, summary: "for the model" },
      { type: "options", choices: [{ label: "Yes", value: "yes", confirmation_id: "c" }] },
    ]);
    expect(asked.entries[0]).toMatchObject({ state: "waiting", summary: null });
    const answered = say(choose(asked, 1, "yes"), "Yes");
    expect(answered.entries.slice(1)).toEqual([
      { kind: "options", choices: [{ label: "Yes", value: "yes", confirmation_id: "c" }], chosen: "yes" },
      { kind: "customer", text: "Yes" },
    ]);
  });

  it("keeps a failure as a failure when the options are no confirmation", () => {
    const transcript = play([
      { type: "tool_call", id: "a", name: "get_ticket", arguments: {} },
      { type: "tool_result", id: "a", name: "get_ticket", ok: false, summary: "I can't find that ticket" },
      { type: "options", choices: [{ label: "TKT-1", value: "TKT-1" }] },
    ]);
    expect(transcript.entries[0]).toMatchObject({ state: "failed", summary: "I can't find that ticket" });
  });
});
