/** The concierge chat: the customer's messages, the concierge's words as they stream in, each
 * tool step as it happens, answer buttons, and payment prompts that open the app's own pay step
 * (card details are never typed into the chat). The session lasts as long as the page. */
import { useRef, useState, type FormEvent } from "react";

import { Countdown } from "../Checkout";
import { formatCents } from "../format";
import { ChatFailure, FAILURES, type ChatRequest } from "./client";
import type { ChatEvent, Choice } from "./events";
import { EMPTY, apply, choose, problem, say, stepLabel, type Entry, type Transcript } from "./transcript";

export type Send = (request: ChatRequest) => AsyncIterable<ChatEvent>;

interface Props {
  send: Send;
  /** The ticket on screen, told to the concierge with every message. */
  ticketNumber: string | null;
  /** Opens the app's pay step for an order the concierge held. */
  onPay: (orderId: string) => void;
}

interface Attempt {
  message: string;
  context: Record<string, unknown> | null;
}

export default function ChatPanel({ send, ticketNumber, onPay }: Props) {
  const [transcript, setTranscript] = useState<Transcript>(EMPTY);
  const [draft, setDraft] = useState("");
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState<Attempt | null>(null);
  const session = useRef<string | null>(null);

  const run = async ({ message, context }: Attempt, restarted = false): Promise<void> => {
    setBusy(true);
    setFailed(null);
    const update = (change: (current: Transcript) => Transcript) => setTranscript(change);
    try {
      const request: ChatRequest = {
        message,
        session_id: session.current,
        context: { ...context, ...(ticketNumber === null ? {} : { ticket_number: ticketNumber }) },
      };
      for await (const event of send(request)) {
        if (event.type === "session") {
          session.current = event.session_id;
        }
        update((current) => apply(current, event));
      }
    } catch (error) {
      if (error instanceof ChatFailure && error.code === "SESSION_GONE" && !restarted) {
        // The host forgot the conversation (a restart, an expiry): start a new one with the
        // same words, so the customer does not have to type them again.
        session.current = null;
        update((current) => problem(current, error.message));
        await run({ message, context: null }, true);
        return;
      }
      update((current) => problem(current, error instanceof ChatFailure ? error.message : FAILURES.NETWORK));
      if (!(error instanceof ChatFailure) || error.code === "NETWORK" || error.code === "REFUSED") {
        setFailed({ message, context });
      }
    } finally {
      setBusy(false);
    }
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const message = draft.trim();
    if (message === "" || busy) {
      return;
    }
    setDraft("");
    setTranscript((current) => say(current, message));
    void run({ message, context: null });
  };

  const answer = (index: number, choice: Choice) => {
    setTranscript((current) => say(choose(current, index, choice.value), choice.label));
    void run(
      choice.confirmation_id === undefined
        ? { message: choice.label, context: null }
        : { message: "", context: { confirmation: { id: choice.confirmation_id, answer: choice.value } } },
    );
  };

  return (
    <section className="chat" aria-labelledby="chat-title">
      <h2 id="chat-title">Concierge</h2>
      <div className="chat-log" role="log" aria-label="Conversation" aria-busy={busy}>
        <ol>
          {transcript.entries.map((entry, index) => (
            // The transcript only grows, so an entry's position is its identity.
            <li key={index} className={`chat-${entry.kind}`}>
              <EntryView entry={entry} busy={busy} onAnswer={(choice) => answer(index, choice)} onPay={onPay} />
            </li>
          ))}
        </ol>
      </div>
      {busy ? <output className="loading">The concierge is answering…</output> : null}
      {failed === null ? null : (
        <button type="button" onClick={() => void run(failed)}>
          Send again
        </button>
      )}
      <form className="chat-form" onSubmit={submit}>
        <label htmlFor="chat-message">Message to the concierge</label>
        <input
          id="chat-message"
          value={draft}
          maxLength={4000}
          autoComplete="off"
          onChange={(event) => setDraft(event.target.value)}
        />
        <button type="submit" disabled={busy || draft.trim() === ""}>
          {busy ? "Sending…" : "Send"}
        </button>
      </form>
    </section>
  );
}

function EntryView({
  entry,
  busy,
  onAnswer,
  onPay,
}: {
  entry: Entry;
  busy: boolean;
  onAnswer: (choice: Choice) => void;
  onPay: (orderId: string) => void;
}) {
  switch (entry.kind) {
    case "customer":
      return (
        <p>
          <span className="sr-only">You: </span>
          {entry.text}
        </p>
      );
    case "concierge":
      return (
        <p>
          <span className="sr-only">Concierge: </span>
          {entry.text}
        </p>
      );
    case "step":
      return (
        <p className={`step ${entry.state}`}>
          {entry.state === "running" && `${stepLabel(entry.name)}…`}
          {entry.state === "done" && `${stepLabel(entry.name)}: done`}
          {entry.state === "failed" && `${stepLabel(entry.name)}: ${entry.summary ?? "it did not work"}`}
          {entry.state === "waiting" && `${stepLabel(entry.name)}: waiting for your answer`}
        </p>
      );
    case "options":
      return entry.chosen === null ? (
        <fieldset className="choices">
          <legend className="sr-only">Your answer</legend>
          {entry.choices.map((choice) => (
            <button key={choice.value} type="button" disabled={busy} onClick={() => onAnswer(choice)}>
              {choice.label}
            </button>
          ))}
        </fieldset>
      ) : null;
    case "payment":
      return (
        <div className="payment-prompt">
          <p>
            Your seat is held. To finish, pay {formatCents(entry.amountCents, entry.currency)} on the secure payment
            step.
          </p>
          <Countdown until={entry.holdExpiresAt} />
          <button type="button" onClick={() => onPay(entry.orderId)}>
            Open the payment step
          </button>
        </div>
      );
    case "problem":
      return (
        <p role="alert" className="error">
          {entry.text}
        </p>
      );
  }
}
