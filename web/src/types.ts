/** The ticket and payment servers' structured results, as far as the app reads them. */
export type Tier = "standard" | "non_stop" | "double_fun";
export type Band = "peak" | "weekend" | "off_peak" | "standard";

export interface MyTicket {
  ticket_number: string;
  ticket_type: string;
  status: string;
  visit_date: string;
  upgrade_tier: Tier | null;
}

export interface TierOption {
  tier: Tier;
  name: string;
  description: string;
  includes: string[];
  from_price_cents: number | null;
  currency: string;
  available: boolean;
  reason: string | null;
}

export interface CalendarDay {
  date: string;
  price_cents: number;
  currency: string;
  band: Band;
  seats_left: number;
  available: boolean;
  reason: string | null;
}

export interface Quote {
  ticket_number: string;
  tier: Tier;
  date: string;
  base_cents: number;
  band: Band;
  multiplier: string;
  total_cents: number;
  currency: string;
  hold_minutes: number;
}

export interface UpgradeOrder {
  order_id: string;
  ticket_number: string;
  tier: Tier;
  visit_date: string;
  amount_cents: number;
  currency: string;
  status: string;
  hold_expires_at: string;
  confirmation_code: string | null;
}

export interface Payment {
  order: UpgradeOrder;
  payment_status: string;
  decline_code: string | null;
  message: string;
}

export interface PaymentMethod {
  payment_method_id: string;
  brand: string;
  last4: string;
}
