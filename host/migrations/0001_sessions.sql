-- The concierge's memory: sessions (each belongs to one customer), what the model was told and
-- answered in each (turns), and what the customer was shown (events). Card numbers never get
-- here: the host redacts them before anything is stored.

CREATE SCHEMA IF NOT EXISTS host;

CREATE TABLE host.sessions (
    session_id text PRIMARY KEY CHECK (session_id ~ '^ses_[a-z2-7]{26}$'),
    customer_id text NOT NULL CHECK (length(customer_id) BETWEEN 1 AND 100),
    -- What the host enforces across turns: confirmations asked for and given.
    state jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE INDEX sessions_by_customer ON host.sessions (customer_id, updated_at DESC);

CREATE TABLE host.turns (
    session_id text NOT NULL REFERENCES host.sessions ON DELETE CASCADE,
    seq integer NOT NULL CHECK (seq >= 1),
    role text NOT NULL CHECK (role IN ('user', 'assistant')),
    blocks jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (session_id, seq)
);

CREATE TABLE host.events (
    session_id text NOT NULL REFERENCES host.sessions ON DELETE CASCADE,
    seq integer NOT NULL CHECK (seq >= 1),
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (session_id, seq)
);
