/** The upgrade summary as an MCP App: quote_upgrade's result (tier, date, base, band, total) with
 * the web app's QuoteSummary. */
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import { TIER_NAMES, formatDate } from "../../src/format";
import { QuoteSummary } from "../../src/QuoteSummary";
import type { Quote } from "../../src/types";
import "../../src/styles.css";
import { useToolResult } from "./useToolResult";

function SummaryApp() {
  const { result, error } = useToolResult<Quote>("ticket-upgrade-summary");
  if (error !== null) {
    return <p role="alert" className="error">This summary could not connect to the assistant.</p>;
  }
  if (result.state === "waiting") {
    return <p aria-busy="true">Loading the price…</p>;
  }
  if (result.state === "failed") {
    return <p role="alert" className="error">{result.message}</p>;
  }
  const quote = result.value;
  return (
    <main>
      <h1>
        {TIER_NAMES[quote.tier]} upgrade for {quote.ticket_number} on {formatDate(quote.date)}
      </h1>
      <QuoteSummary quote={quote} />
      <p className="hint">Selecting it holds the seat for {quote.hold_minutes} minutes while you pay.</p>
    </main>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <SummaryApp />
  </StrictMode>,
);
