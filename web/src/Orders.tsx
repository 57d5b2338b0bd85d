/** My orders: each upgrade's status, amount and date; a confirmed one can move to another date
 * (quote_change → the customer confirms → change_upgrade) or be cancelled and refunded, until
 * 24 hours before the visit (the ticket server decides; its refusal is shown in words). */
import { useState } from "react";

import { Calendar } from "./Calendar";
import { declineMessage, humanMessage, reasonText } from "./errors";
import { TIER_NAMES, formatCents, formatDate } from "./format";
import type { Servers } from "./mcp";
import { Link } from "./Nav";
import type { ChangeQuote, MyOrders, PriceCalendar, UpgradeChange } from "./orderTypes";
import { Show } from "./Screens";
import type { CalendarDay, MyTicket, UpgradeOrder } from "./types";
import { newKey, useLoad } from "./useCall";

export const STATUS_NAMES: Record<string, string> = {
  awaiting_payment: "Waiting for payment",
  confirmed: "Confirmed",
  expired: "Hold expired",
  cancelled: "Cancelled",
  refunded: "Cancelled and refunded",
};

type Action = { order: string; kind: "cancel" | "change" } | null;

export function OrdersScreen({ servers }: { servers: Servers }) {
  const [version, setVersion] = useState(0);
  const [action, setAction] = useState<Action>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const loaded = useLoad(() => servers.ticket<MyOrders>("list_my_orders", {}), `orders/${version}`);
  const done = (message: string) => {
    setAction(null);
    setNotice(message);
    setVersion((n) => n + 1);
  };

  return (
    <section aria-labelledby="orders-title">
      <h2 id="orders-title">My orders</h2>
      <p className="note">Upgrades can be moved or cancelled (with a refund) until 24 hours before the visit.</p>
      <output className="notice">{notice}</output>
      <Show loaded={loaded}>
        {({ orders }) =>
          orders.length === 0 ? (
            <p>
              You have no upgrades yet. <Link to={{ page: "tickets" }}>Upgrade a ticket</Link>
            </p>
          ) : (
            <ul className="orders">
              {orders.map((order) => (
                <li key={order.order_id} className="order" data-order={order.order_id}>
                  <h3>
                    {TIER_NAMES[order.tier]} for {order.ticket_number}
                  </h3>
                  <dl>
                    <dt>Visit</dt>
                    <dd>{formatDate(order.visit_date)}</dd>
                    <dt>Amount</dt>
                    <dd>{formatCents(order.amount_cents, order.currency)}</dd>
                    <dt>Status</dt>
                    <dd className="status">{STATUS_NAMES[order.status] ?? order.status}</dd>
                    {order.confirmation_code === null ? null : (
                      <>
                        <dt>Confirmation code</dt>
                        <dd>{order.confirmation_code}</dd>
                      </>
                    )}
                  </dl>
                  {order.status === "confirmed" && action?.order !== order.order_id ? (
                    <div className="actions">
                      <button type="button" onClick={() => setAction({ order: order.order_id, kind: "change" })}>
                        Change date
                      </button>
                      <button type="button" onClick={() => setAction({ order: order.order_id, kind: "cancel" })}>
                        Cancel upgrade
                      </button>
                    </div>
                  ) : null}
                  {order.status === "awaiting_payment" && action?.order !== order.order_id ? (
                    <div className="actions">
                      <button type="button" onClick={() => setAction({ order: order.order_id, kind: "cancel" })}>
                        Release the held seat
                      </button>
                    </div>
                  ) : null}
                  {action?.order === order.order_id && action.kind === "cancel" && (
                    <CancelOrder servers={servers} order={order} onDone={done} onClose={() => setAction(null)} />
                  )}
                  {action?.order === order.order_id && action.kind === "change" && (
                    <ChangeDate servers={servers} order={order} onDone={done} onClose={() => setAction(null)} />
                  )}
                </li>
              ))}
            </ul>
          )
        }
      </Show>
    </section>
  );
}

interface ActionProps {
  servers: Servers;
  order: UpgradeOrder;
  onDone: (message: string) => void;
  onClose: () => void;
}

function Problem({ text }: { text: string | null }) {
  return text === null ? null : (
    <p role="alert" className="error">
      {text}
    </p>
  );
}

function CancelOrder({ servers, order, onDone, onClose }: ActionProps) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  // One key for this confirmation: pressing again after a lost answer is the same cancellation.
  const [key] = useState(newKey);
  const amount = formatCents(order.amount_cents, order.currency);
  const held = order.status === "awaiting_payment";
  const what = `${TIER_NAMES[order.tier]} upgrade on ${formatDate(order.visit_date)}`;

  const cancel = async () => {
    setBusy(true);
    setProblem(null);
    try {
      const after = await servers.ticket<UpgradeOrder>("cancel_upgrade", { order_id: order.order_id, idempotency_key: key });
      onDone(
        after.status === "refunded"
          ? `Your ${TIER_NAMES[order.tier]} upgrade is cancelled: ${amount} is refunded to your card.`
          : held
            ? "The held seat is released; nothing was charged."
            : `Your ${TIER_NAMES[order.tier]} upgrade is cancelled.`,
      );
    } catch (error) {
      setProblem(humanMessage(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <fieldset className="confirm">
      <legend>{held ? "Release the held seat" : "Cancel this upgrade"}</legend>
      <p>
        {held
          ? `Release the seat held for the ${what}? Nothing has been charged.`
          : `Cancel the ${what}? ${amount} will be refunded to the card that paid it.`}
      </p>
      <Problem text={problem} />
      <button type="button" onClick={() => void cancel()} disabled={busy}>
        {busy ? "Cancelling…" : held ? "Release it" : `Cancel and refund ${amount}`}
      </button>
      <button type="button" onClick={onClose} disabled={busy}>
        {held ? "Keep the hold" : "Keep my upgrade"}
      </button>
    </fieldset>
  );
}

/** The dates this upgrade could move to, priced for its ticket type (the ticket's own calendar
 * is closed once it is upgraded). */
async function changeCalendar(servers: Servers, order: UpgradeOrder): Promise<CalendarDay[]> {
  const ticket = await servers.ticket<MyTicket>("get_ticket", { ticket_number: order.ticket_number });
  const calendar = await servers.ticket<PriceCalendar>("get_price_calendar", {
    ticket_type: ticket.ticket_type,
    tier: order.tier,
  });
  return calendar.days;
}

// The upgrade's own date stays on the calendar, closed, saying why.
const CURRENT_DATE = { available: false, reason: "NO_CHANGE: the upgrade is on this date" };

function ChangeDate({ servers, order, onDone, onClose }: ActionProps) {
  const days = useLoad(() => changeCalendar(servers, order), order.order_id);
  const [day, setDay] = useState<string | null>(null);
  return (
    <fieldset className="change">
      <legend>Move to another date</legend>
      {day === null ? (
        <Show loaded={days}>
          {(value) => <Calendar days={value.map((d) => (d.date === order.visit_date ? { ...d, ...CURRENT_DATE } : d))} onChoose={(chosen) => setDay(chosen.date)} />}
        </Show>
      ) : (
        <ConfirmChange key={day} servers={servers} order={order} day={day} onDone={onDone} onBack={() => setDay(null)} />
      )}
      <button type="button" onClick={onClose}>
        Keep the date I have
      </button>
    </fieldset>
  );
}

function ConfirmChange({
  servers,
  order,
  day,
  onDone,
  onBack,
}: {
  servers: Servers;
  order: UpgradeOrder;
  day: string;
  onDone: (message: string) => void;
  onBack: () => void;
}) {
  const quote = useLoad(() => servers.ticket<ChangeQuote>("quote_change", { order_id: order.order_id, date: day }), day);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  // A new key per attempt: after a decline the customer may try again as a new change.
  const [key, setKey] = useState(newKey);

  const change = async () => {
    setBusy(true);
    setProblem(null);
    try {
      const result = await servers.ticket<UpgradeChange>("change_upgrade", {
        order_id: order.order_id,
        date: day,
        idempotency_key: key,
      });
      if (result.status === "changed") {
        const money =
          result.charged_cents > 0
            ? ` ${formatCents(result.charged_cents, result.currency)} was charged to your card.`
            : result.refunded_cents > 0
              ? ` ${formatCents(result.refunded_cents, result.currency)} is refunded to your card.`
              : "";
        onDone(`Your upgrade is moved to ${formatDate(result.date)}.${money}`);
      } else {
        setKey(newKey());
        setProblem(declineMessage(result.decline_code, result.message));
      }
    } catch (error) {
      setProblem(humanMessage(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Show loaded={quote}>
      {(value) => (
        <>
          <dl className="quote">
            <dt>New date</dt>
            <dd>{formatDate(value.date)}</dd>
            <dt>New price</dt>
            <dd>{formatCents(value.new_price_cents, value.currency)}</dd>
            <dt>Paid</dt>
            <dd>{formatCents(value.paid_cents, value.currency)}</dd>
            <dt>{value.charge_cents > 0 ? "To pay now" : "To refund"}</dt>
            <dd className="difference">{formatCents(value.charge_cents > 0 ? value.charge_cents : value.refund_cents, value.currency)}</dd>
          </dl>
          <Problem text={value.available ? problem : reasonText(value.reason).full} />
          <button type="button" onClick={() => void change()} disabled={busy || !value.available}>
            {busy ? "Moving…" : `Move to ${formatDate(value.date)}`}
          </button>
          <button type="button" onClick={onBack} disabled={busy}>
            Choose another date
          </button>
        </>
      )}
    </Show>
  );
}
