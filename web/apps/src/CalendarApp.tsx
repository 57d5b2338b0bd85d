/** The priced calendar as an MCP App: shows get_availability_calendar's result with the web
 * app's Calendar, and a chosen date is quoted with quote_upgrade, called through the host. */
import { StrictMode, useState } from "react";
import { createRoot } from "react-dom/client";

import { Calendar } from "../../src/Calendar";
import { TIER_NAMES, formatCents, formatDate } from "../../src/format";
import { QuoteSummary } from "../../src/QuoteSummary";
import type { CalendarDay, Quote, Tier } from "../../src/types";
import "../../src/styles.css";
import { outcomeOf, useToolResult, type App, type Outcome } from "./useToolResult";

interface CalendarResult {
  ticket_number: string;
  tier: Tier;
  days: CalendarDay[];
}

/** The assistant sees the chosen date and its price on its next turn (ui/update-model-context),
 * where the host accepts that: the customer chose in the view, not in the conversation. */
function tellTheModel(app: App, quote: Quote) {
  if (app.getHostCapabilities()?.updateModelContext === undefined) {
    return;
  }
  const text =
    `The customer chose ${formatDate(quote.date)} for the ${TIER_NAMES[quote.tier]} upgrade of ` +
    `${quote.ticket_number}: ${formatCents(quote.total_cents, quote.currency)} (quote_upgrade's answer).`;
  // A host that fails to take it leaves the quote on screen all the same.
  app
    .updateModelContext({ content: [{ type: "text", text }], structuredContent: { ...quote } })
    .catch(() => undefined);
}

function CalendarApp() {
  const { app, result, error } = useToolResult<CalendarResult>("ticket-upgrade-calendar");
  const [chosen, setChosen] = useState<CalendarDay | null>(null);
  const [quote, setQuote] = useState<Outcome<Quote> | null>(null);

  if (error !== null) {
    return <p role="alert" className="error">This calendar could not connect to the assistant.</p>;
  }
  if (result.state === "waiting") {
    return <p aria-busy="true">Loading the calendar…</p>;
  }
  if (result.state === "failed") {
    return <p role="alert" className="error">{result.message}</p>;
  }
  const calendar = result.value;
  const choose = async (day: CalendarDay) => {
    if (app === null) {
      return;
    }
    setChosen(day);
    setQuote({ state: "waiting" });
    try {
      const answer = await app.callServerTool({
        name: "quote_upgrade",
        arguments: { ticket_number: calendar.ticket_number, tier: calendar.tier, date: day.date },
      });
      const quoted = outcomeOf<Quote>(answer);
      setQuote(quoted);
      if (quoted.state === "done") {
        tellTheModel(app, quoted.value);
      }
    } catch {
      setQuote({ state: "failed", message: "The assistant could not get a price; please try again." });
    }
  };

  return (
    <main>
      <h1>
        {TIER_NAMES[calendar.tier]} upgrade for {calendar.ticket_number}
      </h1>
      <Calendar days={calendar.days} onChoose={(day) => void choose(day)} />
      {chosen === null || quote === null ? null : (
        <section aria-labelledby="quote-title" aria-live="polite">
          <h2 id="quote-title">Price on {formatDate(chosen.date)}</h2>
          {quote.state === "waiting" ? <p aria-busy="true">Getting the price…</p> : null}
          {quote.state === "failed" ? <p role="alert" className="error">{quote.message}</p> : null}
          {quote.state === "done" ? <QuoteSummary quote={quote.value} /> : null}
        </section>
      )}
    </main>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <CalendarApp />
  </StrictMode>,
);
