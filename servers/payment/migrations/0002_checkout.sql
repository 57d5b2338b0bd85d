-- Saved cards and the hosted checkout page.
--
-- A customer may detach a saved card: it can no longer pay, but its row stays for the charges
-- that name it. A checkout session is a page where the customer pays one intent (or passes its
-- 3-D Secure challenge); its id is the URL's secret, and it holds no card data. Its state
-- follows its intent (succeeded: complete; canceled or past expires_at: expired).

ALTER TABLE payment.payment_methods ADD COLUMN detached_at timestamptz;

CREATE INDEX payment_methods_owner_idx ON payment.payment_methods (owner, created_at)
    WHERE detached_at IS NULL;

CREATE TABLE payment.checkout_sessions (
    checkout_session_id text PRIMARY KEY CHECK (checkout_session_id ~ '^cs_[a-z2-7]{26}$'),
    payment_intent_id text NOT NULL REFERENCES payment.payment_intents (payment_intent_id),
    success_url text CHECK (success_url ~ '^https?://' AND length(success_url) <= 2000),
    cancel_url text CHECK (cancel_url ~ '^https?://' AND length(cancel_url) <= 2000),
    expires_at timestamptz NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    CHECK (expires_at > created_at)
);

CREATE INDEX checkout_sessions_intent_idx
    ON payment.checkout_sessions (payment_intent_id, expires_at);
