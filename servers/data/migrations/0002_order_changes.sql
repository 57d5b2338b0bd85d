-- Changes of a confirmed upgrade to another date and/or tier (ticket server's change_upgrade).
-- A change first holds a seat of its own on the new date and tier ('held'), then is applied
-- (the order and the ticket move to it in one transaction) or released (declined, expired or
-- the upgrade was cancelled meanwhile). The money of each change is kept here as well: the
-- payment that charged a higher price, or the refunds (intent and amount) that give back the
-- difference of a lower one, so that what is left to refund of each payment of an order is
-- known here, without asking the payment server.

CREATE TABLE data.order_changes (
    change_id text PRIMARY KEY CHECK (change_id ~ '^chg_[a-z2-7]{26}$'),
    -- The order changes happened in, which their creation times (one per transaction, and a
    -- frozen clock in tests) cannot tell apart.
    seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    order_id text NOT NULL REFERENCES data.upgrade_orders (order_id),
    status text NOT NULL CHECK (status IN ('held', 'applied', 'released')),
    from_tier text NOT NULL CHECK (from_tier IN ('standard', 'non_stop', 'double_fun')),
    from_visit_date date NOT NULL,
    from_amount_cents integer NOT NULL CHECK (from_amount_cents >= 0),
    to_tier text NOT NULL CHECK (to_tier IN ('standard', 'non_stop', 'double_fun')),
    to_visit_date date NOT NULL,
    to_amount_cents integer NOT NULL CHECK (to_amount_cents >= 0),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    hold_expires_at timestamptz NOT NULL,
    charge_intent_id text,
    -- The refunds a cheaper change gives, planned when it is held: [{payment_intent_id,
    -- amount_cents}], newest payment first, never more than is left of any payment.
    refund_plan jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(refund_plan) = 'array'),
    release_reason text CHECK (release_reason IN ('declined', 'expired', 'cancelled')),
    decline_code text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    closed_at timestamptz,
    CHECK (hold_expires_at > created_at),
    CHECK ((status = 'released') = (release_reason IS NOT NULL)),
    CHECK ((status = 'held') = (closed_at IS NULL)),
    CHECK (charge_intent_id IS NULL OR to_amount_cents > from_amount_cents),
    CHECK (status <> 'applied' OR to_amount_cents <= from_amount_cents
        OR charge_intent_id IS NOT NULL)
);

-- One change at a time per order: the seat swap of two concurrent changes cannot interleave.
CREATE UNIQUE INDEX order_changes_one_held_per_order
    ON data.order_changes (order_id) WHERE status = 'held';

CREATE INDEX order_changes_held_seats_idx
    ON data.order_changes (to_visit_date, to_tier) WHERE status = 'held';

CREATE INDEX order_changes_order_idx ON data.order_changes (order_id, created_at);

-- Every claim on a seat of a date and tier: open orders, and the seats changes hold. Seat
-- counts read this, so a change's seat is counted from the moment it is held.
CREATE VIEW data.seat_claims AS
    SELECT order_id AS claim_id, visit_date, tier, status, hold_expires_at
    FROM data.upgrade_orders
    WHERE status IN ('awaiting_payment', 'confirmed')
    UNION ALL
    SELECT change_id, to_visit_date, to_tier, 'awaiting_payment', hold_expires_at
    FROM data.order_changes
    WHERE status = 'held';
