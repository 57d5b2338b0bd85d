/** What the chat panel shows, built from the chat's events one at a time: the customer's
 * messages, the concierge's streamed words, each tool step as it starts and ends, answer
 * buttons, payment prompts and problems in plain words. Pure, so it is tested on its own. */
import type { ChatEvent, Choice } from "./events";

/** "waiting": the step stopped to ask the customer (the host's confirmation before holding or
 * paying); it runs once they answer. */
export type StepState = "running" | "done" | "failed" | "waiting";

export type Entry =
  | { kind: "customer"; text: string }
  | { kind: "concierge"; text: string }
  | { kind: "step"; id: string; name: string; state: StepState; summary: string | null }
  | { kind: "options"; choices: Choice[]; chosen: string | null }
  | { kind: "payment"; orderId: string; amountCents: number; currency: string; holdExpiresAt: string }
  | { kind: "problem"; text: string };

export interface Transcript {
  entries: Entry[];
  sessionId: string | null;
}

export const EMPTY: Transcript = { entries: [], sessionId: null };

const STEPS: Record<string, string> = {
  list_my_tickets: "Looking up your tickets",
  get_ticket: "Looking up the ticket",
  find_my_ticket: "Looking up the ticket",
  get_upgrade_options: "Checking the upgrade options",
  check_upgrade_eligibility: "Checking the upgrade options",
  get_availability_calendar: "Checking dates and prices",
  quote_upgrade: "Working out the price",
  quote_change: "Working out the price",
  select_upgrade: "Holding your seat",
  pay_upgrade: "Taking the payment",
  get_upgrade_order: "Looking up your order",
  list_my_orders: "Looking up your orders",
  cancel_upgrade: "Cancelling the upgrade",
  change_upgrade: "Changing the upgrade",
  search_help: "Searching the help pages",
  request_human_help: "Asking a person to help",
};

export function stepLabel(name: string): string {
  return STEPS[name] ?? "Working on it";
}

export function say(transcript: Transcript, text: string): Transcript {
  return { ...transcript, entries: [...transcript.entries, { kind: "customer", text }] };
}

export function problem(transcript: Transcript, text: string): Transcript {
  return { ...transcript, entries: [...transcript.entries, { kind: "problem", text }] };
}

/** Marks the answer chosen on the options entry at `index`, so it cannot be sent twice. */
export function choose(transcript: Transcript, index: number, value: string): Transcript {
  return {
    ...transcript,
    entries: transcript.entries.map((entry, at) =>
      at === index && entry.kind === "options" ? { ...entry, chosen: value } : entry,
    ),
  };
}

export function apply(transcript: Transcript, event: ChatEvent): Transcript {
  const entries = transcript.entries;
  const add = (entry: Entry): Transcript => ({ ...transcript, entries: [...entries, entry] });
  switch (event.type) {
    case "session":
      return { ...transcript, sessionId: event.session_id };
    case "text": {
      const last = entries.at(-1);
      if (last?.kind === "concierge") {
        return { ...transcript, entries: [...entries.slice(0, -1), { ...last, text: last.text + event.delta }] };
      }
      return add({ kind: "concierge", text: event.delta });
    }
    case "tool_call":
      return add({ kind: "step", id: event.id, name: event.name, state: "running", summary: null });
    case "tool_result":
      return {
        ...transcript,
        entries: entries.map((entry) =>
          entry.kind === "step" && entry.id === event.id && entry.state === "running"
            ? { ...entry, state: event.ok ? "done" : "failed", summary: event.ok ? null : event.summary }
            : entry,
        ),
      };
    case "options": {
      // The host answers the step that needs a yes with a failure meant for the model, then
      // asks: on screen that step is waiting for the answer, not failed.
      const asked = event.choices.some((choice) => choice.confirmation_id !== undefined);
      const last = entries.map((entry) => entry.kind).lastIndexOf("step");
      const waiting = entries.map((entry, at): Entry =>
        asked && at === last && entry.kind === "step" && entry.state === "failed"
          ? { ...entry, state: "waiting", summary: null }
          : entry,
      );
      return { ...transcript, entries: [...waiting, { kind: "options", choices: event.choices, chosen: null }] };
    }
    case "payment_required":
      return add({
        kind: "payment",
        orderId: event.order_id,
        amountCents: event.amount_cents,
        currency: event.currency,
        holdExpiresAt: event.hold_expires_at,
      });
    case "error":
      return add({ kind: "problem", text: event.message });
    case "done":
      return transcript;
  }
}
