/** Quote → hold (with a live countdown to hold_expires_at) → pay (Pay.tsx: a saved card, a new
 * card, or the hosted checkout) → confirmation. */
import { useEffect, useState } from "react";

import { humanMessage } from "./errors";
import { TIER_NAMES, formatCents, formatCountdown, formatDate } from "./format";
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

function HeldPay({ servers, order, onPaid }: { servers: Servers; order: UpgradeOrder; onPaid: (order: UpgradeOrder) => void }) {
  const expired = useSecondsLeft(order.hold_expires_at) <= 0;
  return <PayStep servers={servers} order={order} expired={expired} onPaid={onPaid} />;
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
  const [order, setOrder] = useState<UpgradeOrder | null>(null);
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
        <>
          <Countdown until={order.hold_expires_at} />
          <HeldPay servers={servers} order={order} onPaid={setOrder} />
        </>
      )}
    </section>
  );
}
