/** The pay step of an order held elsewhere (by the concierge in the chat), at /orders/:id/pay:
 * the order as the ticket server has it now, its countdown and the app's own pay step (Pay.tsx:
 * saved cards, a new card, the hosted checkout, 3-D Secure), then its confirmation. Card details
 * go to the payment server only, never into the chat. */
import { Confirmed, OpenOrder } from "../Checkout";
import { TIER_NAMES, formatCents, formatDate } from "../format";
import type { Servers } from "../mcp";
import { Show } from "../Screens";
import type { UpgradeOrder } from "../types";
import { useLoad } from "../useCall";
import { useLiveOrder } from "./useLiveOrder";

export function PayOrder({ servers, orderId, onDone }: { servers: Servers; orderId: string; onDone: () => void }) {
  const loaded = useLoad(() => servers.ticket<UpgradeOrder>("get_upgrade_order", { order_id: orderId }), orderId);
  return (
    <Show loaded={loaded}>
      {(order) => <LiveOrder key={order.order_id} servers={servers} initial={order} onDone={onDone} />}
    </Show>
  );
}

function LiveOrder({ servers, initial, onDone }: { servers: Servers; initial: UpgradeOrder; onDone: () => void }) {
  const [live, setOrder, hurry] = useLiveOrder(servers, initial);
  const order = live ?? initial;
  if (order.status === "confirmed") {
    return <Confirmed order={order} onDone={onDone} />;
  }
  return (
    <section aria-labelledby="pay-title">
      <h2 id="pay-title">
        Pay for {TIER_NAMES[order.tier]} on {formatDate(order.visit_date)}
      </h2>
      <p>
        Ticket {order.ticket_number}: <strong className="total">{formatCents(order.amount_cents, order.currency)}</strong>
      </p>
      <OpenOrder servers={servers} order={order} onPaid={setOrder} onAway={hurry} />
    </section>
  );
}
