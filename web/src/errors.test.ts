import { describe, expect, it } from "vitest";

import { MESSAGES, ToolError, humanMessage } from "./errors";

// The servers' sources, read as text at test time: the codes are their constants, so a code
// added on a server without a sentence here fails this test.
const SOURCES = import.meta.glob(["../../servers/ticket/**/*.py", "../../servers/payment/**/*.py", "../../servers/core/**/*.py"], {
  query: "?raw",
  import: "default",
  eager: true,
}) as Record<string, string>;

// `SOLD_OUT = "SOLD_OUT"` / `NOT_ALLOWED: Final = "NOT_ALLOWED"`, and a code written in place:
// `RemoteToolError(tool, "REMOTE_ERROR", text)`.
const CONSTANT = /^\s*[A-Z][A-Z0-9_]*(?:\s*:\s*Final)?\s*=\s*"([A-Z][A-Z0-9_]{3,})"\s*$/gm;
const IN_PLACE = /(?:DomainError|RemoteToolError)\(\s*(?:[a-z_]+,\s*)?"([A-Z][A-Z0-9_]{3,})"/g;

function serverCodes(): Map<string, string> {
  const codes = new Map<string, string>();
  for (const [path, text] of Object.entries(SOURCES)) {
    for (const pattern of [CONSTANT, IN_PLACE]) {
      for (const match of text.matchAll(pattern)) {
        codes.set(match[1]!, path);
      }
    }
  }
  return codes;
}

describe("error messages", () => {
  it("reads the servers' codes", () => {
    const codes = serverCodes();
    expect(Object.keys(SOURCES).length).toBeGreaterThan(20);
    // One code of each kind the reader must find, so that a reader finding nothing fails.
    const expected = ["SOLD_OUT", "TOO_LATE", "PAYMENT_METHOD_NOT_FOUND", "CHECKOUT_EXPIRED", "NOT_ALLOWED", "REMOTE_ERROR"];
    expect(expected.filter((code) => !codes.has(code))).toEqual([]);
  });

  it("has a human message for every code the ticket and payment servers can answer", () => {
    const missing = [...serverCodes()].filter(([code]) => MESSAGES[code] === undefined).map(([code, path]) => `${code} (${path})`);
    expect(missing).toEqual([]);
  });

  it("never shows the server's own wording when a code has a sentence", () => {
    const error = new ToolError("SOLD_OUT", "no double_fun seats left on 2026-12-24 (capacity row 7)");
    expect(humanMessage(error)).toBe("That day is sold out for this tier.");
    expect(humanMessage(new TypeError("Failed to fetch"))).toBe(MESSAGES["NETWORK"]);
  });
});
