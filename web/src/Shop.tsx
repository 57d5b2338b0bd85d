/** The signed-in customer's app: each page at its own address (router.ts); a ticket's flow
 * (options → calendar → checkout) lives under /tickets/:number. */
import { useState } from "react";

import { Checkout } from "./Checkout";
import { ToolError } from "./errors";
import type { Servers } from "./mcp";
import { Nav, NotFound } from "./Nav";
import { OrdersScreen } from "./Orders";
import { PricesScreen } from "./Prices";
import { navigate, useRoute } from "./router";
import { CalendarScreen, OptionsScreen, Show, TicketsScreen } from "./Screens";
import type { CalendarDay, MyTicket, Tier } from "./types";
import { useLoad } from "./useCall";

type View =
  | { screen: "options" }
  | { screen: "calendar"; tier: Tier }
  | { screen: "checkout"; tier: Tier; day: CalendarDay };

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

function TicketFlow({ servers, ticket }: { servers: Servers; ticket: string }) {
  const found = useLoad(() => findTicket(servers, ticket), ticket);
  const [view, setView] = useState<View>({ screen: "options" });
  const back = () => {
    switch (view.screen) {
      case "options":
        return navigate({ page: "tickets" });
      case "calendar":
        return setView({ screen: "options" });
      case "checkout":
        return setView({ screen: "calendar", tier: view.tier });
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
              <OptionsScreen servers={servers} ticketNumber={value.ticket_number} onPick={(tier) => setView({ screen: "calendar", tier })} />
            )}
            {view.screen === "calendar" && (
              <CalendarScreen
                servers={servers}
                ticketNumber={value.ticket_number}
                tier={view.tier}
                onChoose={(day) => setView({ screen: "checkout", tier: view.tier, day })}
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

export function Shop({ servers }: { servers: Servers }) {
  const route = useRoute();
  return (
    <>
      <Nav route={route} signedIn />
      {route.page === "tickets" && (
        <TicketsScreen servers={servers} onOpen={(ticket) => navigate({ page: "ticket", ticket: ticket.ticket_number })} />
      )}
      {route.page === "ticket" && <TicketFlow key={route.ticket} servers={servers} ticket={route.ticket} />}
      {route.page === "orders" && <OrdersScreen servers={servers} />}
      {route.page === "prices" && <PricesScreen call={servers.ticket} />}
      {route.page === "missing" && <NotFound what="Page" />}
    </>
  );
}
