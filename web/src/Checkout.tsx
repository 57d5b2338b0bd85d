/** Quote → hold (with a live countdown to hold_expires_at) → pay (Pay.tsx: a saved card, a new
 * card, or the hosted checkout) → confirmation. The held order is kept up to date while on
 * screen (live/useLiveOrder.ts): paid elsewhere or expired, the screen follows. */
import { useEffect, useState } from "react";

import { humanMessage } from "./errors";
import { TIER_NAMES, formatCents, formatCountdown, formatDate } from "./format";
import { useLiveOrder } from "./live/useLiveOrder";
import type { Servers } from "./mcp";
import { QuoteSummary } from "./QuoteSummary";
import { Show } from "./Screens";
import { PayStep } from "./Pay";
import type { CalendarDay, Quote, Tier, UpgradeOrder } from "./types";
import { newKey, useLoad } from "./useCall";

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
        See my orders
      </button>
    </section>
  );
}

const CLOSED: Record<string, string> = {
  expired: "Your hold has expired; please choose the date again.",
  cancelled: "This upgrade was cancelled.",
  refunded: "This upgrade was refunded.",
};

interface OpenOrderProps {
  servers: Servers;
  /** The order as last seen (live): its status decides what shows. */
  order: UpgradeOrder;
  onPaid: (order: UpgradeOrder) => void;
  /** The customer went to pay on the payment server's page: look for the outcome soon. */
  onAway: () => void;
}

/** A held order not yet confirmed: the countdown and the pay step while it waits for payment,
 * or why it can no longer be paid. */
export function OpenOrder({ servers, order, onPaid, onAway }: OpenOrderProps) {
  const expired = useSecondsLeft(order.hold_expires_at) <= 0;
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
      <PayStep servers={servers} order={order} expired={expired} onPaid={onPaid} onAway={onAway} />
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
  const [order, setOrder, hurry] = useLiveOrder(servers, null);
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
          <QuoteSummary quote={value} />
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
        <OpenOrder servers={servers} order={order} onPaid={setOrder} onAway={hurry} />
      )}
    </section>
  );
}
