/** Quote → hold (with a live countdown to hold_expires_at) → pay with a new card → confirmation.
 * The card goes only to the payment server (create_payment_method); the ticket server sees the
 * resulting pm_ id. */
import { useEffect, useState, type FormEvent } from "react";

import { declineMessage, humanMessage } from "./errors";
import { BAND_NAMES, TIER_NAMES, formatCents, formatCountdown, formatDate } from "./format";
import type { Servers } from "./mcp";
import { Show } from "./Screens";
import type { CalendarDay, Payment, PaymentMethod, Quote, Tier, UpgradeOrder } from "./types";
import { newKey, useLoad } from "./useCall";
import { useLiveOrder } from "./live/useLiveOrder";

function useSecondsLeft(until: string): number {
  const deadline = Date.parse(until);
  const [left, setLeft] = useState(() => (deadline - Date.now()) / 1000);
  useEffect(() => {
    const timer = window.setInterval(() => setLeft((deadline - Date.now()) / 1000), 1000);
    return () => window.clearInterval(timer);
  }, [deadline]);
  return left;
}

export function Countdown({ until }: { until: string }) {
  const left = useSecondsLeft(until);
  return left > 0 ? (
    <p className="countdown">
      Seat held for <time role="timer" aria-live="off">{formatCountdown(left)}</time>
    </p>
  ) : (
    <p role="alert" className="error">
      Your hold has expired; please choose the date again.
    </p>
  );
}

interface CardForm {
  number: string;
  month: string;
  year: string;
  cvc: string;
}

function PayForm({ servers, order, onPaid }: { servers: Servers; order: UpgradeOrder; onPaid: (order: UpgradeOrder) => void }) {
  const [card, setCard] = useState<CardForm>({ number: "", month: "", year: "", cvc: "" });
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const expired = useSecondsLeft(order.hold_expires_at) <= 0;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      const method = await servers.payment<PaymentMethod>("create_payment_method", {
        card_number: card.number,
        exp_month: Number(card.month),
        exp_year: Number(card.year),
        cvc: card.cvc,
      });
      const payment = await servers.ticket<Payment>("pay_upgrade", {
        order_id: order.order_id,
        payment_method: method.payment_method_id,
        idempotency_key: newKey(),
      });
      if (payment.payment_status === "succeeded") {
        onPaid(payment.order);
      } else {
        setProblem(declineMessage(payment.decline_code, payment.message));
      }
    } catch (error) {
      setProblem(humanMessage(error));
    } finally {
      setBusy(false);
    }
  };
  const field = (name: keyof CardForm, label: string, props: Record<string, string>) => (
    <label>
      {label}
      <input
        name={name}
        required
        value={card[name]}
        onChange={(event) => setCard({ ...card, [name]: event.target.value })}
        {...props}
      />
    </label>
  );

  return (
    <form onSubmit={(event) => void submit(event)} aria-label="Pay by card">
      {field("number", "Card number", { inputMode: "numeric", autoComplete: "cc-number" })}
      {field("month", "Expiry month", { inputMode: "numeric", autoComplete: "cc-exp-month", placeholder: "MM" })}
      {field("year", "Expiry year", { inputMode: "numeric", autoComplete: "cc-exp-year", placeholder: "YYYY" })}
      {field("cvc", "Security code", { inputMode: "numeric", autoComplete: "cc-csc" })}
      {problem === null ? null : (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      <button type="submit" disabled={busy || expired}>
        {busy ? "Paying…" : `Pay ${formatCents(order.amount_cents, order.currency)}`}
      </button>
    </form>
  );
}

export function Confirmed({ order, onDone }: { order: UpgradeOrder; onDone: () => void }) {
  return (
    <section aria-labelledby="confirmed-title">
      <h2 id="confirmed-title">Upgrade confirmed</h2>
      <p>
        {TIER_NAMES[order.tier]} on {formatDate(order.visit_date)} for {formatCents(order.amount_cents, order.currency)}.
      </p>
      <p>
        Confirmation code: <strong className="confirmation-code">{order.confirmation_code}</strong>
      </p>
      <p>A confirmation e-mail is on its way.</p>
      <button type="button" onClick={onDone}>
        Back to my tickets
      </button>
    </section>
  );
}

const CLOSED: Record<string, string> = {
  expired: "Your hold has expired; please choose the date again.",
  cancelled: "This upgrade was cancelled.",
  refunded: "This upgrade was refunded.",
};

/** A held order not yet confirmed: the countdown and the pay form while it waits for payment,
 * or why it can no longer be paid. */
export function OpenOrder({
  servers,
  order,
  onPaid,
}: {
  servers: Servers;
  order: UpgradeOrder;
  onPaid: (order: UpgradeOrder) => void;
}) {
  if (order.status !== "awaiting_payment") {
    return (
      <p role="alert" className="error">
        {CLOSED[order.status] ?? "This order can no longer be paid or changed."}
      </p>
    );
  }
  return (
    <>
      <Countdown until={order.hold_expires_at} />
      <PayForm servers={servers} order={order} onPaid={onPaid} />
    </>
  );
}

export function Checkout({
  servers,
  ticketNumber,
  tier,
  day,
  onDone,
}: {
  servers: Servers;
  ticketNumber: string;
  tier: Tier;
  day: CalendarDay;
  onDone: () => void;
}) {
  const quote = useLoad(
    () => servers.ticket<Quote>("quote_upgrade", { ticket_number: ticketNumber, tier, date: day.date }),
    `${ticketNumber}/${tier}/${day.date}`,
  );
  // Kept up to date while on screen: paid elsewhere or expired, the screen follows.
  const [order, setOrder] = useLiveOrder(servers, null);
  const [holding, setHolding] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  // One key for this screen's hold: pressing again after a lost answer returns the same order.
  const [holdKey] = useState(newKey);

  const hold = async () => {
    setHolding(true);
    setProblem(null);
    try {
      setOrder(
        await servers.ticket<UpgradeOrder>("select_upgrade", {
          ticket_number: ticketNumber,
          tier,
          date: day.date,
          idempotency_key: holdKey,
        }),
      );
    } catch (error) {
      setProblem(humanMessage(error));
    } finally {
      setHolding(false);
    }
  };

  if (order?.status === "confirmed") {
    return <Confirmed order={order} onDone={onDone} />;
  }

  return (
    <section aria-labelledby="checkout-title">
      <h2 id="checkout-title">
        {TIER_NAMES[tier]} on {formatDate(day.date)}
      </h2>
      <Show loaded={quote}>
        {(value) => (
          <dl className="quote">
            <dt>Base price</dt>
            <dd>{formatCents(value.base_cents, value.currency)}</dd>
            <dt>Price band</dt>
            <dd>
              {BAND_NAMES[value.band]} (×{value.multiplier})
            </dd>
            <dt>Total</dt>
            <dd className="total">{formatCents(value.total_cents, value.currency)}</dd>
          </dl>
        )}
      </Show>
      {order === null ? (
        <>
          {problem === null ? null : (
            <p role="alert" className="error">
              {problem}
            </p>
          )}
          <button type="button" onClick={() => void hold()} disabled={holding || quote.state !== "done"}>
            {holding ? "Holding…" : "Hold this upgrade"}
          </button>
        </>
      ) : (
        <OpenOrder servers={servers} order={order} onPaid={setOrder} />
      )}
    </section>
  );
}
