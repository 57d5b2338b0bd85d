/** My tickets, a ticket's three upgrade options, and a tier's calendar. */
import type { ReactNode } from "react";

import { Calendar } from "./Calendar";
import { reasonText } from "./errors";
import { TIER_NAMES, formatCents, formatDate } from "./format";
import type { Servers } from "./mcp";
import type { CalendarDay, MyTicket, Tier, TierOption } from "./types";
import { useLoad, type Loaded } from "./useCall";

export function Show<T>({ loaded, children }: { loaded: Loaded<T>; children: (value: T) => ReactNode }) {
  if (loaded.state === "loading") {
    return (
      <output className="loading">Loading…</output>
    );
  }
  if (loaded.state === "failed") {
    return (
      <div role="alert" className="error">
        <p>{loaded.message}</p>
        <button type="button" onClick={loaded.retry}>
          Try again
        </button>
      </div>
    );
  }
  return <>{children(loaded.value)}</>;
}

export function TicketsScreen({ servers, onOpen }: { servers: Servers; onOpen: (ticket: MyTicket) => void }) {
  const loaded = useLoad(() => servers.ticket<{ tickets: MyTicket[] }>("list_my_tickets", {}), "tickets");
  return (
    <section aria-labelledby="tickets-title">
      <h2 id="tickets-title">My tickets</h2>
      <Show loaded={loaded}>
        {({ tickets }) =>
          tickets.length === 0 ? (
            <p>You have no tickets.</p>
          ) : (
            <ul className="tickets">
              {tickets.map((ticket) => (
                <li key={ticket.ticket_number} className="ticket">
                  <span className="ticket-number">{ticket.ticket_number}</span>
                  <span>{ticket.ticket_type} ticket</span>
                  <span>{formatDate(ticket.visit_date)}</span>
                  <span>{ticket.upgrade_tier === null ? "No upgrade" : `Upgraded: ${TIER_NAMES[ticket.upgrade_tier]}`}</span>
                  <span>{ticket.status}</span>
                  <button type="button" onClick={() => onOpen(ticket)} aria-label={`Upgrade options for ${ticket.ticket_number}`}>
                    Upgrade options
                  </button>
                </li>
              ))}
            </ul>
          )
        }
      </Show>
    </section>
  );
}

export function OptionsScreen({
  servers,
  ticketNumber,
  onPick,
}: {
  servers: Servers;
  ticketNumber: string;
  onPick: (tier: Tier) => void;
}) {
  const loaded = useLoad(
    () => servers.ticket<{ tiers: TierOption[] }>("get_upgrade_options", { ticket_number: ticketNumber }),
    ticketNumber,
  );
  return (
    <section aria-labelledby="options-title">
      <h2 id="options-title">Upgrades for {ticketNumber}</h2>
      <Show loaded={loaded}>
        {({ tiers }) => (
          <ol className="tiers">
            {tiers.map((option) => (
              <li key={option.tier} className={option.available ? "tier" : "tier unavailable"}>
                <h3>{option.name}</h3>
                <p>{option.description}</p>
                <ul>
                  {option.includes.map((item) => (
                    <li key={item}>{item}</li>
                  ))}
                </ul>
                {option.from_price_cents === null ? null : (
                  <p className="from-price">From {formatCents(option.from_price_cents, option.currency)}</p>
                )}
                {option.available ? (
                  <button type="button" onClick={() => onPick(option.tier)}>
                    Choose a date for {option.name}
                  </button>
                ) : (
                  <p className="reason">Not available: {reasonText(option.reason).full}</p>
                )}
              </li>
            ))}
          </ol>
        )}
      </Show>
    </section>
  );
}

export function CalendarScreen({
  servers,
  ticketNumber,
  tier,
  onChoose,
}: {
  servers: Servers;
  ticketNumber: string;
  tier: Tier;
  onChoose: (day: CalendarDay) => void;
}) {
  const loaded = useLoad(
    () =>
      servers.ticket<{ days: CalendarDay[] }>("get_availability_calendar", {
        ticket_number: ticketNumber,
        tier,
      }),
    `${ticketNumber}/${tier}`,
  );
  return (
    <section aria-labelledby="calendar-title">
      <h2 id="calendar-title">
        {TIER_NAMES[tier]} for {ticketNumber}
      </h2>
      <Show loaded={loaded}>{({ days }) => <Calendar days={days} onChoose={onChoose} />}</Show>
    </section>
  );
}
