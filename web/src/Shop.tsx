/** The signed-in customer's flow: tickets → options → calendar → checkout. */
import { useState } from "react";

import { Checkout } from "./Checkout";
import type { Servers } from "./mcp";
import { CalendarScreen, OptionsScreen, TicketsScreen } from "./Screens";
import type { CalendarDay, Tier } from "./types";

type View =
  | { screen: "tickets" }
  | { screen: "options"; ticket: string }
  | { screen: "calendar"; ticket: string; tier: Tier }
  | { screen: "checkout"; ticket: string; tier: Tier; day: CalendarDay };

export function Shop({ servers }: { servers: Servers }) {
  const [view, setView] = useState<View>({ screen: "tickets" });
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
          onDone={() => setView({ screen: "tickets" })}
        />
      )}
    </>
  );
}
