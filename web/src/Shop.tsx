/** The signed-in customer's flow: tickets → options → calendar → checkout; and the pay step of
 * an order the concierge held. The view is the caller's, so the chat can follow and move it. */
import { Checkout } from "./Checkout";
import { PayOrder } from "./live/PayOrder";
import type { Servers } from "./mcp";
import { CalendarScreen, OptionsScreen, TicketsScreen } from "./Screens";
import type { CalendarDay, Tier } from "./types";

export type View =
  | { screen: "tickets" }
  | { screen: "options"; ticket: string }
  | { screen: "calendar"; ticket: string; tier: Tier }
  | { screen: "checkout"; ticket: string; tier: Tier; day: CalendarDay }
  | { screen: "pay"; orderId: string };

export const START: View = { screen: "tickets" };

/** The ticket the customer is looking at, if any. */
export function ticketOnScreen(view: View): string | null {
  return "ticket" in view ? view.ticket : null;
}

export function Shop({ servers, view, onView: setView }: { servers: Servers; view: View; onView: (view: View) => void }) {
  const back = (() => {
    switch (view.screen) {
      case "tickets":
        return null;
      case "options":
        return () => setView({ screen: "tickets" });
      case "calendar":
        return () => setView({ screen: "options", ticket: view.ticket });
      case "checkout":
        return () => setView({ screen: "calendar", ticket: view.ticket, tier: view.tier });
      case "pay":
        return () => setView(START);
    }
  })();

  return (
    <>
      {back === null ? null : (
        <button type="button" className="back" onClick={back}>
          ← Back
        </button>
      )}
      {view.screen === "tickets" && (
        <TicketsScreen servers={servers} onOpen={(ticket) => setView({ screen: "options", ticket: ticket.ticket_number })} />
      )}
      {view.screen === "options" && (
        <OptionsScreen
          servers={servers}
          ticketNumber={view.ticket}
          onPick={(tier) => setView({ screen: "calendar", ticket: view.ticket, tier })}
        />
      )}
      {view.screen === "calendar" && (
        <CalendarScreen
          servers={servers}
          ticketNumber={view.ticket}
          tier={view.tier}
          onChoose={(day) => setView({ screen: "checkout", ticket: view.ticket, tier: view.tier, day })}
        />
      )}
      {view.screen === "checkout" && (
        <Checkout
          servers={servers}
          ticketNumber={view.ticket}
          tier={view.tier}
          day={view.day}
          onDone={() => setView(START)}
        />
      )}
      {view.screen === "pay" && <PayOrder key={view.orderId} servers={servers} orderId={view.orderId} onDone={() => setView(START)} />}
    </>
  );
}
