-- The payment gateway's ledger. Card numbers and CVCs are never stored: a payment method keeps
-- brand, last four digits, expiry, a keyed fingerprint and the test behaviour of its card.
-- History is appended (charges, refunds, events, delivery attempts), never overwritten.

CREATE SCHEMA IF NOT EXISTS payment;

CREATE TABLE payment.payment_methods (
    payment_method_id text PRIMARY KEY CHECK (payment_method_id ~ '^pm_[a-z2-7]{26}$'),
    -- The customer who created it; NULL when a service did (then it belongs to no one).
    owner text CHECK (length(owner) BETWEEN 1 AND 100),
    brand text NOT NULL CHECK (brand IN ('visa', 'mastercard', 'amex', 'discover', 'unknown')),
    last4 text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month integer NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year integer NOT NULL CHECK (exp_year BETWEEN 2000 AND 2200),
    fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{32}$'),
    behavior text NOT NULL CHECK (behavior IN (
        'succeed', 'generic_decline', 'insufficient_funds', 'expired_card', 'incorrect_cvc',
        'processing_error', 'authentication_required', 'transient_processing_error')),
    created_at timestamptz NOT NULL
);

CREATE TABLE payment.payment_intents (
    payment_intent_id text PRIMARY KEY CHECK (payment_intent_id ~ '^pi_[a-z2-7]{26}$'),
    client_secret text NOT NULL UNIQUE,
    amount_cents integer NOT NULL CHECK (amount_cents > 0),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    description text CHECK (length(description) <= 500),
    customer_ref text CHECK (length(customer_ref) BETWEEN 1 AND 100),
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    status text NOT NULL CHECK (status IN (
        'requires_payment_method', 'requires_action', 'processing', 'succeeded', 'canceled')),
    payment_method_id text REFERENCES payment.payment_methods (payment_method_id),
    last_payment_error jsonb,
    next_action jsonb,
    amount_received_cents integer NOT NULL DEFAULT 0,
    amount_refunded_cents integer NOT NULL DEFAULT 0,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    canceled_at timestamptz,
    CHECK (amount_received_cents = CASE WHEN status = 'succeeded' THEN amount_cents ELSE 0 END),
    CHECK (amount_refunded_cents BETWEEN 0 AND amount_received_cents),
    CHECK ((status = 'canceled') = (canceled_at IS NOT NULL)),
    CHECK ((status = 'requires_action') = (next_action IS NOT NULL)),
    CHECK (status <> 'requires_action' OR payment_method_id IS NOT NULL)
);

CREATE INDEX payment_intents_customer_idx ON payment.payment_intents (customer_ref, created_at);

-- One row per attempt to charge a card, successful or not.
CREATE TABLE payment.charges (
    charge_id text PRIMARY KEY CHECK (charge_id ~ '^ch_[a-z2-7]{26}$'),
    payment_intent_id text NOT NULL REFERENCES payment.payment_intents (payment_intent_id),
    payment_method_id text NOT NULL REFERENCES payment.payment_methods (payment_method_id),
    amount_cents integer NOT NULL CHECK (amount_cents > 0),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status text NOT NULL CHECK (status IN ('succeeded', 'failed')),
    failure_code text,
    decline_code text,
    failure_message text,
    created_at timestamptz NOT NULL,
    CHECK ((status = 'failed') = (failure_code IS NOT NULL)),
    CHECK ((status = 'failed') = (failure_message IS NOT NULL)),
    UNIQUE (charge_id, amount_cents)
);

-- Never two successful charges of one intent, whatever the service does.
CREATE UNIQUE INDEX charges_one_success_per_intent
    ON payment.charges (payment_intent_id) WHERE status = 'succeeded';

CREATE INDEX charges_intent_idx ON payment.charges (payment_intent_id, created_at);

-- Refunds of a charge form a chain: each starts where the previous one ended
-- (previous_total_cents, NULL for the first) and no two start at the same point, so their sum
-- is the last total, which cannot exceed the charge.
CREATE TABLE payment.refunds (
    refund_id text PRIMARY KEY CHECK (refund_id ~ '^re_[a-z2-7]{26}$'),
    charge_id text NOT NULL,
    payment_intent_id text NOT NULL REFERENCES payment.payment_intents (payment_intent_id),
    amount_cents integer NOT NULL CHECK (amount_cents > 0),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    charge_amount_cents integer NOT NULL,
    previous_total_cents integer CHECK (previous_total_cents > 0),
    total_cents integer GENERATED ALWAYS AS (COALESCE(previous_total_cents, 0) + amount_cents)
        STORED,
    reason text NOT NULL CHECK (reason IN ('requested_by_customer', 'duplicate', 'fraudulent')),
    status text NOT NULL CHECK (status = 'succeeded'),
    created_at timestamptz NOT NULL,
    FOREIGN KEY (charge_id, charge_amount_cents)
        REFERENCES payment.charges (charge_id, amount_cents),
    CHECK (COALESCE(previous_total_cents, 0) + amount_cents <= charge_amount_cents),
    UNIQUE (charge_id, total_cents),
    UNIQUE (charge_id, previous_total_cents),
    FOREIGN KEY (charge_id, previous_total_cents) REFERENCES payment.refunds (charge_id, total_cents)
);

CREATE UNIQUE INDEX refunds_one_first_per_charge
    ON payment.refunds (charge_id) WHERE previous_total_cents IS NULL;

CREATE TABLE payment.events (
    seq bigserial UNIQUE,
    event_id text PRIMARY KEY CHECK (event_id ~ '^evt_[a-z2-7]{26}$'),
    type text NOT NULL CHECK (type IN (
        'payment_intent.succeeded', 'payment_intent.payment_failed', 'payment_intent.canceled',
        'charge.refunded')),
    payment_intent_id text NOT NULL REFERENCES payment.payment_intents (payment_intent_id),
    customer_ref text,
    data jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object'),
    created_at timestamptz NOT NULL
);

CREATE TABLE payment.webhook_endpoints (
    endpoint_id text PRIMARY KEY CHECK (endpoint_id ~ '^we_[a-z2-7]{26}$'),
    url text NOT NULL UNIQUE CHECK (url ~ '^https?://'),
    secret text NOT NULL CHECK (length(secret) >= 16),
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- The outbox: one row per event and endpoint, written in the transaction of the event.
CREATE TABLE payment.webhook_deliveries (
    event_id text NOT NULL REFERENCES payment.events (event_id),
    endpoint_id text NOT NULL REFERENCES payment.webhook_endpoints (endpoint_id),
    status text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    delivered_at timestamptz,
    PRIMARY KEY (event_id, endpoint_id),
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);

CREATE INDEX webhook_deliveries_due_idx
    ON payment.webhook_deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE payment.webhook_attempts (
    event_id text NOT NULL,
    endpoint_id text NOT NULL,
    attempt integer NOT NULL CHECK (attempt >= 1),
    status_code integer,
    error text,
    attempted_at timestamptz NOT NULL,
    PRIMARY KEY (event_id, endpoint_id, attempt),
    FOREIGN KEY (event_id, endpoint_id)
        REFERENCES payment.webhook_deliveries (event_id, endpoint_id)
);

CREATE TABLE payment.idempotency_keys (
    caller text NOT NULL,
    tool text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    response jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, tool, key)
);
