/** The ticket and payment servers' answers read by My orders, saved cards and public prices. */
import type { Band, CalendarDay, Payment, Tier, UpgradeOrder } from "./types";

export interface MyOrders {
  orders: UpgradeOrder[];
}

export interface ChangeQuote {
  order_id: string;
  ticket_number: string;
  current_tier: Tier;
  current_date: string;
  paid_cents: number;
  tier: Tier;
  date: string;
  band: Band;
  new_price_cents: number;
  difference_cents: number;
  charge_cents: number;
  refund_cents: number;
  currency: string;
  seats_left: number;
  available: boolean;
  reason: string | null;
}

export interface UpgradeChange {
  change_id: string;
  status: "changed" | "declined" | "failed";
  order: UpgradeOrder;
  from_date: string;
  date: string;
  charged_cents: number;
  refunded_cents: number;
  currency: string;
  decline_code: string | null;
  message: string;
}

export interface SavedCard {
  payment_method_id: string;
  brand: string;
  last4: string;
  exp_month: number;
  exp_year: number;
}

export interface SavedCards {
  payment_methods: SavedCard[];
}

export type TicketType = "general" | "standard" | "vip" | "premium";

export interface PriceCalendar {
  ticket_type: TicketType;
  tier: Tier;
  days: CalendarDay[];
}

export interface PriceQuote {
  ticket_type: TicketType;
  tier: Tier;
  date: string;
  base_cents: number;
  band: Band;
  multiplier: string;
  total_cents: number;
  currency: string;
}

/** pay_upgrade's answer with the payment page: requires_checkout (pay there) or requires_action
 * (approve 3-D Secure there). */
export interface PayAnswer extends Payment {
  order: UpgradeOrder & { payment_intent_id: string | null };
  checkout_url: string | null;
}

/** The payment server's intent, as far as the pay step reads it. */
export interface IntentView {
  id: string;
  status: string;
  last_payment_error: { code: string; decline_code: string; message: string } | null;
}
