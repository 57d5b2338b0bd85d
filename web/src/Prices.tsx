/** Public prices: what an upgrade costs by ticket type, tier and date, for anyone (the catalogue
 * tools; a visitor who is not signed in reaches them through the app's own public route). */
import { useState } from "react";

import { Calendar } from "./Calendar";
import { ToolError } from "./errors";
import { BAND_NAMES, TIER_NAMES, formatCents, formatDate } from "./format";
import type { CallTool } from "./mcp";
import type { PriceCalendar, PriceQuote, TicketType } from "./orderTypes";
import { Show } from "./Screens";
import type { Tier } from "./types";
import { useLoad } from "./useCall";

const TYPES: { value: TicketType; label: string }[] = [
  { value: "general", label: "General" },
  { value: "standard", label: "Standard" },
  { value: "vip", label: "VIP" },
  { value: "premium", label: "Premium" },
];
const TIERS: Tier[] = ["standard", "non_stop", "double_fun"];

/** The calendar, or null when this ticket type has no upgrade to this tier. */
async function priceCalendar(call: CallTool, ticketType: TicketType, tier: Tier): Promise<PriceCalendar | null> {
  try {
    return await call<PriceCalendar>("get_price_calendar", { ticket_type: ticketType, tier });
  } catch (error) {
    if (error instanceof ToolError && error.code === "NO_UPGRADE_PATH") {
      return null;
    }
    throw error;
  }
}

function DayQuote({ call, ticketType, tier, day }: { call: CallTool; ticketType: TicketType; tier: Tier; day: string }) {
  const quote = useLoad(() => call<PriceQuote>("quote_price", { ticket_type: ticketType, tier, date: day }), `${ticketType}/${tier}/${day}`);
  return (
    <Show loaded={quote}>
      {(value) => (
        <dl className="quote" aria-label={`Price on ${formatDate(value.date)}`}>
          <dt>Date</dt>
          <dd>{formatDate(value.date)}</dd>
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
  );
}

export function PricesScreen({ call }: { call: CallTool }) {
  const [ticketType, setTicketType] = useState<TicketType>("general");
  const [tier, setTier] = useState<Tier>("double_fun");
  const [day, setDay] = useState<string | null>(null);
  const calendar = useLoad(() => priceCalendar(call, ticketType, tier), `${ticketType}/${tier}`);

  return (
    <section aria-labelledby="prices-title">
      <h2 id="prices-title">Upgrade prices</h2>
      <p>Prices by ticket type, tier and date. Peak days cost more, some quiet weekdays less.</p>
      <div className="choose">
        <label>
          Ticket type
          <select
            value={ticketType}
            onChange={(event) => {
              setTicketType(event.target.value as TicketType);
              setDay(null);
            }}
          >
            {TYPES.map((type) => (
              <option key={type.value} value={type.value}>
                {type.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Upgrade to
          <select
            value={tier}
            onChange={(event) => {
              setTier(event.target.value as Tier);
              setDay(null);
            }}
          >
            {TIERS.map((value) => (
              <option key={value} value={value}>
                {TIER_NAMES[value]}
              </option>
            ))}
          </select>
        </label>
      </div>
      <Show loaded={calendar}>
        {(value) =>
          value === null ? (
            <p className="reason">
              There is no upgrade from a {TYPES.find((type) => type.value === ticketType)?.label} ticket to {TIER_NAMES[tier]}.
            </p>
          ) : (
            <Calendar key={`${ticketType}/${tier}`} days={value.days} onChoose={(chosen) => setDay(chosen.date)} />
          )
        }
      </Show>
      {day === null ? null : <DayQuote call={call} ticketType={ticketType} tier={tier} day={day} />}
    </section>
  );
}
