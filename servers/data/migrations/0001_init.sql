-- The system of record: customers, their tickets, upgrade orders and daily capacity.
-- Constraints make bad states impossible rather than merely unlikely.

CREATE SCHEMA IF NOT EXISTS data;

CREATE TABLE data.customers (
    customer_id text PRIMARY KEY CHECK (customer_id ~ '^cus_[a-z2-7]{26}$'),
    email text NOT NULL UNIQUE
        CHECK (email = lower(email) AND length(email) <= 254 AND email ~ '^[^@\s]+@[^@\s]+$'),
    full_name text NOT NULL CHECK (length(full_name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE data.tickets (
    ticket_number text PRIMARY KEY CHECK (ticket_number ~ '^TKT-[0-9A-Z]{4,16}$'),
    customer_id text NOT NULL REFERENCES data.customers (customer_id),
    ticket_type text NOT NULL CHECK (ticket_type IN ('general', 'standard', 'vip', 'premium')),
    status text NOT NULL CHECK (status IN ('active', 'used', 'cancelled', 'expired')),
    original_price_cents integer NOT NULL CHECK (original_price_cents >= 0),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    visit_date date NOT NULL,
    upgrade_tier text CHECK (upgrade_tier IN ('standard', 'non_stop', 'double_fun')),
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ticket_number, customer_id)
);

CREATE INDEX tickets_customer_idx ON data.tickets (customer_id);

CREATE TABLE data.daily_capacity (
    visit_date date NOT NULL,
    tier text NOT NULL CHECK (tier IN ('standard', 'non_stop', 'double_fun')),
    capacity integer NOT NULL CHECK (capacity >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (visit_date, tier)
);

CREATE TABLE data.upgrade_orders (
    order_id text PRIMARY KEY CHECK (order_id ~ '^ord_[a-z2-7]{26}$'),
    ticket_number text NOT NULL,
    customer_id text NOT NULL,
    tier text NOT NULL CHECK (tier IN ('standard', 'non_stop', 'double_fun')),
    visit_date date NOT NULL,
    amount_cents integer NOT NULL CHECK (amount_cents >= 0),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status text NOT NULL
        CHECK (status IN ('awaiting_payment', 'confirmed', 'expired', 'cancelled', 'refunded')),
    hold_expires_at timestamptz NOT NULL,
    payment_intent_id text,
    confirmation_code text UNIQUE,
    refund_id text,
    previous_tier text CHECK (previous_tier IN ('standard', 'non_stop', 'double_fun')),
    previous_visit_date date NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    confirmed_at timestamptz,
    closed_at timestamptz,
    -- The order's customer is the ticket's customer, always.
    FOREIGN KEY (ticket_number, customer_id)
        REFERENCES data.tickets (ticket_number, customer_id),
    CHECK (hold_expires_at > created_at),
    CHECK ((status IN ('confirmed', 'refunded')) = (confirmation_code IS NOT NULL)),
    CHECK ((status IN ('confirmed', 'refunded')) = (confirmed_at IS NOT NULL)),
    CHECK (status NOT IN ('confirmed', 'refunded') OR payment_intent_id IS NOT NULL),
    CHECK ((status = 'refunded') = (refund_id IS NOT NULL)),
    CHECK ((status IN ('expired', 'cancelled', 'refunded')) = (closed_at IS NOT NULL))
);

-- At most one open order per ticket: a live hold or a confirmed upgrade.
CREATE UNIQUE INDEX upgrade_orders_one_open_per_ticket
    ON data.upgrade_orders (ticket_number)
    WHERE status IN ('awaiting_payment', 'confirmed');

CREATE INDEX upgrade_orders_seats_idx
    ON data.upgrade_orders (visit_date, tier)
    WHERE status IN ('awaiting_payment', 'confirmed');

CREATE INDEX upgrade_orders_customer_idx ON data.upgrade_orders (customer_id, created_at);

CREATE INDEX upgrade_orders_open_holds_idx
    ON data.upgrade_orders (hold_expires_at)
    WHERE status = 'awaiting_payment';

CREATE TABLE data.idempotency_keys (
    caller text NOT NULL,
    tool text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    response jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, tool, key)
);
