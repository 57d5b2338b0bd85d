import { act, cleanup, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import ChatPanel from "./ChatPanel";
import { ChatFailure, FAILURES, type ChatRequest } from "./client";
import type { ChatEvent } from "./events";

afterEach(cleanup);

/** A host the test speaks for: each message opens a stream the test feeds event by event. */
function fakeHost() {
  const requests: ChatRequest[] = [];
  let feed: ((item: ChatEvent | ChatFailure | null) => void) | null = null;
  const send = (request: ChatRequest): AsyncIterable<ChatEvent> => {
    requests.push(request);
    const queue: (ChatEvent | ChatFailure | null)[] = [];
    let wake: (() => void) | null = null;
    feed = (item) => {
      queue.push(item);
      wake?.();
    };
    return (async function* () {
      for (;;) {
        while (queue.length === 0) {
          await new Promise<void>((resolve) => (wake = resolve));
        }
        const item = queue.shift();
        if (item === null || item === undefined) {
          return;
        }
        if (item instanceof ChatFailure) {
          throw item;
        }
        yield item;
      }
    })();
  };
  const emit = async (...items: (ChatEvent | ChatFailure | null)[]) => {
    for (const item of items) {
      await act(async () => feed?.(item));
    }
  };
  return { send, requests, emit };
}

const OPTIONS: ChatEvent = {
  type: "options",
  choices: [
    { label: "Yes: Hold the non_stop upgrade of TKT-1 on 2027-01-07: 50.00 USD", value: "yes", confirmation_id: "c1" },
    { label: "No", value: "no", confirmation_id: "c1" },
  ],
};

describe("the chat panel", () => {
  it("streams words and shows each step while it runs, then its outcome", async () => {
    const user = userEvent.setup();
    const host = fakeHost();
    render(<ChatPanel send={host.send} ticketNumber="TKT-1" onPay={() => {}} />);
    await user.type(screen.getByLabelText("Message to the concierge"), "Upgrade my ticket");
    await user.click(screen.getByRole("button", { name: "Send" }));

    const log = screen.getByRole("log", { name: "Conversation" });
    expect(within(log).getByText("Upgrade my ticket")).toBeTruthy();
    expect(screen.getByText("The concierge is answering…")).toBeTruthy(); // progress at once
    expect(host.requests[0]).toEqual({ message: "Upgrade my ticket", session_id: null, context: { ticket_number: "TKT-1" } });

    await host.emit({ type: "session", session_id: "s1" }, { type: "text", delta: "Let me " }, { type: "text", delta: "look." });
    expect(within(log).getByText("Let me look.")).toBeTruthy();
    await host.emit({ type: "tool_call", id: "t1", name: "quote_upgrade", arguments: {} });
    expect(within(log).getByText("Working out the price…")).toBeTruthy();
    await host.emit({ type: "tool_result", id: "t1", name: "quote_upgrade", ok: true, summary: "done" });
    expect(within(log).getByText("Working out the price: done")).toBeTruthy();
    await host.emit(
      { type: "tool_call", id: "t2", name: "select_upgrade", arguments: {} },
      { type: "tool_result", id: "t2", name: "select_upgrade", ok: false, summary: "that day is sold out" },
      { type: "done" },
      null,
    );
    expect(within(log).getByText("Holding your seat: that day is sold out")).toBeTruthy();
    expect(screen.queryByText("The concierge is answering…")).toBeNull();

    // The next message continues the same session.
    await user.type(screen.getByLabelText("Message to the concierge"), "And another day?");
    await user.click(screen.getByRole("button", { name: "Send" }));
    expect(host.requests[1]?.session_id).toBe("s1");
  });

  it("answers a confirmation with its id, not with words, and only once", async () => {
    const user = userEvent.setup();
    const host = fakeHost();
    render(<ChatPanel send={host.send} ticketNumber="TKT-1" onPay={() => {}} />);
    await user.type(screen.getByLabelText("Message to the concierge"), "Non-stop on 7 January");
    await user.click(screen.getByRole("button", { name: "Send" }));
    await host.emit(
      { type: "session", session_id: "s1" },
      { type: "tool_call", id: "t1", name: "select_upgrade", arguments: {} },
      { type: "tool_result", id: "t1", name: "select_upgrade", ok: false, summary: "the customer is being asked to confirm" },
      OPTIONS,
      { type: "done" },
      null,
    );
    expect(screen.getByText("Holding your seat: waiting for your answer")).toBeTruthy();

    await user.click(screen.getByRole("button", { name: /^Yes: Hold/ }));
    expect(host.requests[1]).toEqual({
      message: "",
      session_id: "s1",
      context: { confirmation: { id: "c1", answer: "yes" }, ticket_number: "TKT-1" },
    });
    expect(screen.queryByRole("button", { name: /^Yes: Hold/ })).toBeNull();
    expect(within(screen.getByRole("log")).getByText(/^Yes: Hold the non_stop upgrade/)).toBeTruthy();
  });

  it("opens the app's pay step for a held order; no card is asked for in the chat", async () => {
    const user = userEvent.setup();
    const host = fakeHost();
    const paid: string[] = [];
    render(<ChatPanel send={host.send} ticketNumber={null} onPay={(orderId) => paid.push(orderId)} />);
    await user.type(screen.getByLabelText("Message to the concierge"), "yes");
    await user.click(screen.getByRole("button", { name: "Send" }));
    const expires = new Date(Date.now() + 10 * 60_000).toISOString();
    await host.emit(
      { type: "payment_required", order_id: "ord_1", amount_cents: 5000, currency: "USD", hold_expires_at: expires },
      { type: "done" },
      null,
    );
    expect(screen.getByText(/pay \$50\.00 on the secure payment step/)).toBeTruthy();
    expect(screen.getByRole("timer").textContent).toMatch(/^(10:00|9:5\d)$/);
    expect(screen.queryByLabelText(/Card number/)).toBeNull();
    await user.click(screen.getByRole("button", { name: "Open the payment step" }));
    expect(paid).toEqual(["ord_1"]);
    expect(host.requests[0]?.context).toEqual({});
  });

  it("says what went wrong in plain words and sends the same message again", async () => {
    const user = userEvent.setup();
    const host = fakeHost();
    render(<ChatPanel send={host.send} ticketNumber="TKT-1" onPay={() => {}} />);
    await user.type(screen.getByLabelText("Message to the concierge"), "Hello");
    await user.click(screen.getByRole("button", { name: "Send" }));
    await host.emit({ type: "text", delta: "Hel" }, new ChatFailure("NETWORK", FAILURES.NETWORK));
    expect(screen.getByRole("alert").textContent).toBe(FAILURES.NETWORK);

    await user.click(screen.getByRole("button", { name: "Send again" }));
    expect(host.requests[1]).toEqual(host.requests[0]);
    await host.emit({ type: "error", code: "MODEL_UNAVAILABLE", message: "The assistant is not available right now." }, { type: "done" }, null);
    expect(screen.getAllByRole("alert").map((alert) => alert.textContent)).toEqual([
      FAILURES.NETWORK,
      "The assistant is not available right now.",
    ]);
    expect(screen.queryByRole("button", { name: "Send again" })).toBeNull();
  });

  it("starts a new conversation with the same words when the host forgot the session", async () => {
    const user = userEvent.setup();
    const host = fakeHost();
    render(<ChatPanel send={host.send} ticketNumber={null} onPay={() => {}} />);
    await user.type(screen.getByLabelText("Message to the concierge"), "Hi");
    await user.click(screen.getByRole("button", { name: "Send" }));
    await host.emit({ type: "session", session_id: "old" }, { type: "done" }, null);
    await user.type(screen.getByLabelText("Message to the concierge"), "Still there?");
    await user.click(screen.getByRole("button", { name: "Send" }));
    await host.emit(new ChatFailure("SESSION_GONE", FAILURES.SESSION_GONE));
    expect(host.requests.map((request) => [request.message, request.session_id])).toEqual([
      ["Hi", null],
      ["Still there?", "old"],
      ["Still there?", null],
    ]);
  });
});
