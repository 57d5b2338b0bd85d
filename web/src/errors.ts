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

const MESSAGES: Record<string, string> = {
  TICKET_NOT_FOUND: "We can't find that ticket on your account.",
  ORDER_NOT_FOUND: "We can't find that order on your account.",
  TICKET_NOT_ACTIVE: "This ticket can no longer be upgraded.",
  NO_UPGRADE_PATH: "There is no upgrade for this ticket type.",
  TOO_LATE: "Upgrades close 24 hours before the visit.",
  ALREADY_UPGRADED: "This ticket is already upgraded.",
  HOLD_EXISTS: "This ticket already has an upgrade waiting for payment.",
  SOLD_OUT: "That day is sold out for this tier.",
  DATE_NOT_BOOKABLE: "That date can't be booked for this upgrade.",
  HOLD_EXPIRED: "Your hold has expired; please choose the date again.",
  ORDER_CLOSED: "This order can no longer be paid or changed.",
  PAYMENT_IN_PROGRESS: "A payment for this order is already under way; please wait a moment.",
  IDEMPOTENCY_MISMATCH: "That request clashed with an earlier one; please try again.",
  NOT_ALLOWED: "You are not allowed to do that.",
  INVALID_ARGUMENT: "Something in the request was not valid.",
  INCORRECT_NUMBER: "That card number is not valid.",
  INVALID_EXPIRY_MONTH: "The expiry month is not valid.",
  INVALID_EXPIRY_YEAR: "The expiry year is not valid.",
  INVALID_CVC: "The security code is not valid.",
  UNAVAILABLE: "The service is busy right now; please try again in a few seconds.",
  UNAUTHENTICATED: "Your session has ended; please sign in again.",
  NETWORK: "We couldn't reach the service; check your connection and try again.",
  INTERNAL: "Something went wrong on our side; please try again.",
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
};

export function declineMessage(declineCode: string | null, fallback: string): string {
  return (declineCode !== null && DECLINES[declineCode]) || fallback;
}
