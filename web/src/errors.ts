/** Tool errors say `CODE: message`; the customer reads a plain sentence chosen by the code, and
 * the servers' own message only where no sentence of ours fits. */

export class ToolError extends Error {
  readonly code: string;
  readonly detail: string;

  constructor(code: string, detail: string) {
    super(`${code}: ${detail}`);
    this.name = "ToolError";
    this.code = code;
    this.detail = detail;
  }
}

const CODED = /^([A-Z][A-Z0-9_]+):\s*(.*)$/s;

export function parseToolError(text: string): ToolError {
  const match = CODED.exec(text.trim());
  if (match === null) {
    return new ToolError("INTERNAL", text.trim());
  }
  return new ToolError(match[1] ?? "INTERNAL", match[2] ?? "");
}

/** One sentence per stable code the ticket and payment servers (and their shared kit) can
 * answer; errors.test.ts reads the servers' sources and fails when a code has none here. */
export const MESSAGES: Record<string, string> = {
  // Tickets and upgrades
  TICKET_NOT_FOUND: "We can't find that ticket on your account.",
  CUSTOMER_NOT_FOUND: "We can't find your account; please sign in again.",
  TICKET_NOT_ACTIVE: "This ticket can no longer be upgraded.",
  NO_UPGRADE_PATH: "There is no upgrade for this ticket type.",
  TOO_LATE: "Upgrades close 24 hours before the visit.",
  ALREADY_UPGRADED: "This ticket is already upgraded.",
  HOLD_EXISTS: "This ticket already has an upgrade waiting for payment.",
  SOLD_OUT: "That day is sold out for this tier.",
  DATE_NOT_BOOKABLE: "That date can't be booked for this upgrade.",
  TICKET_CHANGED: "Your ticket changed while the upgrade was being held; please choose it again.",
  // Orders
  ORDER_NOT_FOUND: "We can't find that order on your account.",
  ORDER_EXISTS: "This ticket already has an upgrade order.",
  HOLD_EXPIRED: "Your hold has expired; please choose the date again.",
  ORDER_CLOSED: "This order can no longer be paid or changed.",
  ORDER_INCONSISTENT: "This order needs a moment to settle; please try again shortly.",
  PAYMENT_IN_PROGRESS: "A payment for this order is already under way; please wait a moment.",
  PAYMENT_NOT_OPENED: "The payment for this order could not be opened; please try again.",
  // Changes of a confirmed upgrade
  NOT_CONFIRMED: "Only a confirmed upgrade can be changed.",
  NO_CHANGE: "Your upgrade is already on that date and tier.",
  CHANGE_IN_PROGRESS: "A change of this upgrade is already under way; please wait a moment.",
  // Payments and cards
  PAYMENT_INTENT_NOT_FOUND: "We can't find that payment on your account.",
  PAYMENT_METHOD_NOT_FOUND: "That card is no longer saved on your account; please choose another.",
  INVALID_STATE: "That payment can't be changed any more; please refresh and try again.",
  REFUND_EXCEEDS_CHARGE: "There is nothing left to refund on this payment.",
  INVALID_AMOUNT: "That amount can't be charged.",
  PERMISSION_DENIED: "You are not allowed to do that with this payment.",
  EVENT_NOT_FOUND: "We can't find that payment event.",
  // Only the REST edge calls the tool that answers this; a sentence anyway, as for every code.
  INVALID_WEBHOOK: "That payment notice could not be checked.",
  INCORRECT_NUMBER: "That card number is not valid.",
  INVALID_EXPIRY_MONTH: "The expiry month is not valid.",
  INVALID_EXPIRY_YEAR: "The expiry year is not valid.",
  INVALID_EXPIRY: "That payment page can't stay open that long.",
  INVALID_CVC: "The security code is not valid.",
  UNKNOWN_TEST_CARD: "That test card is not known; please use a card number.",
  CHECKOUT_SESSION_NOT_FOUND: "That payment link is not valid.",
  CHECKOUT_EXPIRED: "That payment page has closed; nothing was charged.",
  // Any server
  IDEMPOTENCY_MISMATCH: "That request clashed with an earlier one; please try again.",
  NOT_ALLOWED: "You are not allowed to do that.",
  NOT_FOUND: "We can't find that.",
  INVALID_ARGUMENT: "Something in the request was not valid.",
  UNKNOWN_TOOL: "This app needs an update; please reload the page.",
  REMOTE_ERROR: "Something went wrong on our side; please try again.",
  UNAVAILABLE: "The service is busy right now; please try again in a few seconds.",
  INTERNAL: "Something went wrong on our side; please try again.",
  // The app's own, for calls that never reached a tool
  UNAUTHENTICATED: "Your session has ended; please sign in again.",
  NETWORK: "We couldn't reach the service; check your connection and try again.",
};

export function humanMessage(error: unknown): string {
  if (error instanceof ToolError) {
    return MESSAGES[error.code] ?? (error.detail || MESSAGES["INTERNAL"]!);
  }
  return MESSAGES["NETWORK"]!;
}

/** A calendar day's or tier's reason (`CODE: message`) as a short label and a full sentence. */
export function reasonText(reason: string | null): { short: string; full: string } {
  if (reason === null) {
    return { short: "", full: "" };
  }
  const error = parseToolError(reason);
  const SHORT: Record<string, string> = {
    SOLD_OUT: "Sold out",
    TOO_LATE: "Too late",
    DATE_NOT_BOOKABLE: "Not bookable",
  };
  return { short: SHORT[error.code] ?? "Unavailable", full: MESSAGES[error.code] ?? error.detail };
}

const DECLINES: Record<string, string> = {
  generic_decline: "Your card was declined. Please try another card.",
  insufficient_funds: "Your card has insufficient funds. Please try another card.",
  expired_card: "Your card has expired. Please try another card.",
  incorrect_cvc: "The security code is incorrect. Please check it and try again.",
  processing_error: "The card could not be processed. Please try again.",
  authentication_required: "The payment was not approved with your bank. Please try again or use another card.",
};

export function declineMessage(declineCode: string | null, fallback: string): string {
  return (declineCode !== null && DECLINES[declineCode]) || fallback;
}
