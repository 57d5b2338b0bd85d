/** The signed-in customer's app: each page at its own address (router.ts); a ticket's flow
 * (options → calendar → checkout) lives under /tickets/:number, and the pay step of an order
 * the concierge held under /orders/:id/pay. */
import { useEffect, useState } from "react";

import { Checkout } from "./Checkout";
import { ToolError } from "./errors";
import { PayOrder } from "./live/PayOrder";
import type { Step } from "./live/place";
import type { Servers } from "./mcp";
import { Nav, NotFound } from "./Nav";
import { OrdersScreen } from "./Orders";
import { PricesScreen } from "./Prices";
import { navigate, useRoute } from "./router";
import { CalendarScreen, OptionsScreen, Show, TicketsScreen } from "./Screens";
import type { MyTicket } from "./types";
import { useLoad } from "./useCall";

/** The ticket, or null when it is not the customer's: another customer's ticket answers
 * exactly like a missing one, so both show the same page. */
async function findTicket(servers: Servers, ticket: string): Promise<MyTicket | null> {
  try {
    return await servers.ticket<MyTicket>("get_ticket", { ticket_number: ticket });
  } catch (error) {
    if (error instanceof ToolError && (error.code === "TICKET_NOT_FOUND" || error.code === "INVALID_ARGUMENT")) {
      return null;
    }
    throw error;
  }
}

interface FlowProps {
  servers: Servers;
  ticket: string;
  /** The step to start on (the place a new sign-in returns to), else the ticket's options. */
  resume: Step | null;
  /** Told each step: the app keeps it for a session that ends. */
  onStep: (step: Step | null) => void;
}

function TicketFlow({ servers, ticket, resume, onStep }: FlowProps) {
  const found = useLoad(() => findTicket(servers, ticket), ticket);
  const [view, setView] = useState<Step>(() => (resume?.ticket === ticket ? resume : { screen: "options", ticket }));
  useEffect(() => onStep(view), [view, onStep]);
  const back = () => {
    switch (view.screen) {
      case "options":
        return navigate({ page: "tickets" });
      case "calendar":
        return setView({ screen: "options", ticket });
      case "checkout":
        return setView({ screen: "calendar", ticket, tier: view.tier });
    }
  };
  return (
    <Show loaded={found}>
      {(value) =>
        value === null ? (
          <NotFound what="Ticket" />
        ) : (
          <>
            <button type="button" className="back" onClick={back}>
              ← Back
            </button>
            {view.screen === "options" && (
              <OptionsScreen servers={servers} ticketNumber={value.ticket_number} onPick={(tier) => setView({ screen: "calendar", ticket, tier })} />
            )}
            {view.screen === "calendar" && (
              <CalendarScreen
                servers={servers}
                ticketNumber={value.ticket_number}
                tier={view.tier}
                onChoose={(day) => setView({ screen: "checkout", ticket, tier: view.tier, day })}
              />
            )}
            {view.screen === "checkout" && (
              <Checkout
                servers={servers}
                ticketNumber={value.ticket_number}
                tier={view.tier}
                day={view.day}
                onDone={() => navigate({ page: "orders" })}
              />
            )}
          </>
        )
      }
    </Show>
  );
}

const NO_STEP = () => {};

interface ShopProps {
  servers: Servers;
  /** The step of a ticket's flow to return to after a new sign-in: used once. */
  resume?: Step | null;
  onStep?: (step: Step | null) => void;
}

export function Shop({ servers, resume = null, onStep = NO_STEP }: ShopProps) {
  const route = useRoute();
  const [pending, setPending] = useState(resume);
  const onTicket = route.page === "ticket";
  if (!onTicket && pending !== null) {
    setPending(null); // the resumed flow was left: a later visit starts afresh
  }
  useEffect(() => {
    // Off a ticket's page there is no step. (Not said on unmount: a session that ends keeps the
    // step for the sign-in that follows.)
    if (!onTicket) {
      onStep(null);
    }
  }, [onTicket, onStep]);
  return (
    <>
      <Nav route={route} signedIn />
      {route.page === "tickets" && (
        <TicketsScreen servers={servers} onOpen={(ticket) => navigate({ page: "ticket", ticket: ticket.ticket_number })} />
      )}
      {route.page === "ticket" && (
        <TicketFlow key={route.ticket} servers={servers} ticket={route.ticket} resume={pending} onStep={onStep} />
      )}
      {route.page === "orders" && <OrdersScreen servers={servers} />}
      {route.page === "pay" && (
        <PayOrder key={route.orderId} servers={servers} orderId={route.orderId} onDone={() => navigate({ page: "orders" })} />
      )}
      {route.page === "prices" && <PricesScreen call={servers.ticket} />}
      {route.page === "missing" && <NotFound what="Page" />}
    </>
  );
}
