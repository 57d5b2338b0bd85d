/** A quote's price as the customer reads it: base, band with its multiplier, and the total. Shared
 * by the web app's checkout and the MCP Apps (web/apps) that assistants show. */
import { BAND_NAMES, formatCents } from "./format";
import type { Quote } from "./types";

export function QuoteSummary({ quote }: { quote: Quote }) {
  return (
    <dl className="quote">
      <dt>Base price</dt>
      <dd>{formatCents(quote.base_cents, quote.currency)}</dd>
      <dt>Price band</dt>
      <dd>
        {BAND_NAMES[quote.band]} (×{quote.multiplier})
      </dd>
      <dt>Total</dt>
      <dd className="total">{formatCents(quote.total_cents, quote.currency)}</dd>
    </dl>
  );
}
