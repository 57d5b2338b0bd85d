/** The pay step of a held upgrade: a saved card, a new card (made on the payment server only:
 * the ticket server sees its pm_ id), or the payment server's hosted checkout page. A card that
 * asks for 3-D Secure, and the hosted page, are finished on the payment server's own page; the
 * screen's live order (live/useLiveOrder.ts) shows when its webhook confirms it. */
import { useEffect, useEffectEvent, useState, type FormEvent } from "react";

import { declineMessage, humanMessage } from "./errors";
import { formatCents } from "./format";
import { pollDelay } from "./live/backoff";
import type { Servers } from "./mcp";
import type { IntentView, PayAnswer, SavedCard, SavedCards } from "./orderTypes";
import { Show } from "./Screens";
import type { PaymentMethod, UpgradeOrder } from "./types";
import { newKey, useLoad, type Loaded } from "./useCall";

type Method = { kind: "saved"; id: string } | { kind: "new" } | { kind: "hosted" };

interface Away {
  url: string;
  why: "checkout" | "authenticate";
  /** The payment to ask about while a 3-D Secure approval is awaited. */
  intent: string | null;
}

interface CardForm {
  number: string;
  month: string;
  year: string;
  cvc: string;
}

export function cardName(card: SavedCard): string {
  const brand = card.brand.charAt(0).toUpperCase() + card.brand.slice(1);
  return `${brand} ending ${card.last4}, expires ${String(card.exp_month).padStart(2, "0")}/${card.exp_year}`;
}

/** While a 3-D Secure approval is awaited, asks the payment server for the payment (pauses as
 * live/backoff.ts): a challenge the customer declined puts it back to requires_payment_method
 * with the error, which is said once. The order itself is watched by the screen that shows it
 * (live/useLiveOrder.ts): confirmed by the payment server's webhook, the screen moves on. */
function useDeclineWatch(servers: Servers, away: Away | null, onRefused: (problem: string) => void) {
  const refuse = useEffectEvent(onRefused);
  const intentId = away?.why === "authenticate" ? away.intent : null;
  useEffect(() => {
    if (intentId === null) {
      return;
    }
    let stopped = false;
    let timer = 0;
    let attempt = 0;
    const ask = async () => {
      try {
        const intent = await servers.payment<IntentView>("get_payment_intent", { payment_intent_id: intentId });
        const error = intent.last_payment_error;
        if (!stopped && intent.status === "requires_payment_method" && error !== null) {
          stopped = true;
          refuse(declineMessage(error.decline_code, error.message));
        }
      } catch {
        // A lost answer is asked again at the next tick; the page keeps waiting.
      }
      if (!stopped) {
        timer = window.setTimeout(() => void ask(), pollDelay(attempt++));
      }
    };
    timer = window.setTimeout(() => void ask(), pollDelay(attempt++));
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [servers, intentId]);
}

function CardFields({ card, onChange }: { card: CardForm; onChange: (card: CardForm) => void }) {
  const field = (name: keyof CardForm, label: string, props: Record<string, string>) => (
    <label>
      {label}
      <input name={name} required value={card[name]} onChange={(event) => onChange({ ...card, [name]: event.target.value })} {...props} />
    </label>
  );
  return (
    <div className="card-fields">
      {field("number", "Card number", { inputMode: "numeric", autoComplete: "cc-number" })}
      {field("month", "Expiry month", { inputMode: "numeric", autoComplete: "cc-exp-month", placeholder: "MM" })}
      {field("year", "Expiry year", { inputMode: "numeric", autoComplete: "cc-exp-year", placeholder: "YYYY" })}
      {field("cvc", "Security code", { inputMode: "numeric", autoComplete: "cc-csc" })}
    </div>
  );
}

/** The first saved card once the list is known, a new card when there is none or the list could
 * not be read; null while it loads. */
function defaultMethod(cards: Loaded<SavedCards>): Method | null {
  if (cards.state === "loading") {
    return null;
  }
  const first = cards.state === "done" ? cards.value.payment_methods[0] : undefined;
  return first === undefined ? { kind: "new" } : { kind: "saved", id: first.payment_method_id };
}

export function PayStep({
  servers,
  order,
  expired,
  onPaid,
  onAway,
}: {
  servers: Servers;
  /** The held order, kept current by the screen (live/useLiveOrder.ts). */
  order: UpgradeOrder;
  expired: boolean;
  onPaid: (order: UpgradeOrder) => void;
  /** The customer is sent to the payment server's page: the screen looks for the outcome soon. */
  onAway: () => void;
}) {
  const [cardsVersion, setCardsVersion] = useState(0);
  const cards = useLoad(() => servers.payment<SavedCards>("list_payment_methods", {}), `cards/${cardsVersion}`);
  const [picked, setPicked] = useState<Method | null>(null);
  const [card, setCard] = useState<CardForm>({ number: "", month: "", year: "", cvc: "" });
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [away, setAway] = useState<Away | null>(null);

  // Until the saved cards are known nothing is chosen for the customer: choosing "a new card"
  // meanwhile would swap its fields for the first saved card when the list arrived, under the
  // customer's typing. A choice of theirs is never changed.
  const method: Method | null = picked ?? defaultMethod(cards);

  useDeclineWatch(servers, away, (refused) => {
    setAway(null);
    setProblem(refused);
  });

  const pay = async (paymentMethod: string | null) => {
    const payment = await servers.ticket<PayAnswer>("pay_upgrade", {
      order_id: order.order_id,
      idempotency_key: newKey(),
      ...(paymentMethod === null ? {} : { payment_method: paymentMethod }),
    });
    switch (payment.payment_status) {
      case "succeeded":
        onPaid(payment.order);
        return;
      case "requires_checkout":
      case "requires_action":
        if (payment.checkout_url !== null) {
          setAway({
            url: payment.checkout_url,
            why: payment.payment_status === "requires_action" ? "authenticate" : "checkout",
            intent: payment.order.payment_intent_id,
          });
          onAway();
          return;
        }
        setProblem(payment.message);
        return;
      default:
        setProblem(declineMessage(payment.decline_code, payment.message));
    }
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (method === null) {
      return;
    }
    setBusy(true);
    setProblem(null);
    try {
      if (method.kind === "saved") {
        await pay(method.id);
      } else if (method.kind === "hosted") {
        await pay(null);
      } else {
        const made = await servers.payment<PaymentMethod>("create_payment_method", {
          card_number: card.number,
          exp_month: Number(card.month),
          exp_year: Number(card.year),
          cvc: card.cvc,
        });
        // The card is saved on the customer's account now; the choice stays on "a new card".
        setPicked({ kind: "new" });
        setCardsVersion((n) => n + 1);
        await pay(made.payment_method_id);
      }
    } catch (error) {
      setProblem(humanMessage(error));
    } finally {
      setBusy(false);
    }
  };

  const remove = async (removed: SavedCard) => {
    setProblem(null);
    try {
      await servers.payment<PaymentMethod>("detach_payment_method", { payment_method_id: removed.payment_method_id });
      if (method?.kind === "saved" && method.id === removed.payment_method_id) {
        setPicked(null);
      }
      setCardsVersion((n) => n + 1);
    } catch (error) {
      setProblem(humanMessage(error));
    }
  };

  const amount = formatCents(order.amount_cents, order.currency);
  if (away !== null) {
    return (
      <div className="away" aria-labelledby="away-title">
        <h3 id="away-title">{away.why === "authenticate" ? "Approve the payment with your bank" : "Pay on the secure payment page"}</h3>
        <p>
          {away.why === "authenticate"
            ? "Your bank asks you to confirm this payment (3-D Secure). Approve it on the payment page, then come back here."
            : "The payment page opens in a new tab: enter your card there, then come back here."}
        </p>
        <p>
          <a href={away.url} target="_blank" rel="noopener noreferrer" className="away-link">
            {away.why === "authenticate" ? "Open the approval page" : `Open the payment page to pay ${amount}`}
          </a>
        </p>
        <output className="waiting">Waiting for your payment… This page updates by itself.</output>
        <button type="button" onClick={() => setAway(null)}>
          Pay another way
        </button>
      </div>
    );
  }

  return (
    <form onSubmit={(event) => void submit(event)} aria-label="Pay">
      <fieldset>
        <legend>How would you like to pay?</legend>
        <Show loaded={cards}>
          {({ payment_methods }) => (
            <ul className="methods">
              {payment_methods.map((saved) => (
                <li key={saved.payment_method_id}>
                  <label>
                    <input
                      type="radio"
                      name="method"
                      checked={method?.kind === "saved" && method.id === saved.payment_method_id}
                      onChange={() => setPicked({ kind: "saved", id: saved.payment_method_id })}
                    />
                    {cardName(saved)}
                  </label>
                  <button type="button" className="remove" onClick={() => void remove(saved)}>
                    Remove <span className="sr-only">{cardName(saved)}</span>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </Show>
        <label>
          <input type="radio" name="method" checked={method?.kind === "new"} onChange={() => setPicked({ kind: "new" })} />A new card
        </label>
        <label>
          <input type="radio" name="method" checked={method?.kind === "hosted"} onChange={() => setPicked({ kind: "hosted" })} />
          On the secure payment page
        </label>
      </fieldset>
      {method?.kind === "new" && <CardFields card={card} onChange={setCard} />}
      {problem === null ? null : (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      <button type="submit" disabled={busy || expired || method === null}>
        {busy ? "Paying…" : `Pay ${amount}`}
      </button>
    </form>
  );
}
