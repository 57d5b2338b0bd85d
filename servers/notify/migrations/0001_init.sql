-- The outbox of e-mails: each row is rendered once, when queued, and delivered by the worker.
-- Constraints tie every status to the columns it needs, so a half-recorded delivery cannot exist.

CREATE SCHEMA IF NOT EXISTS notify;

CREATE TABLE notify.messages (
    message_id text PRIMARY KEY CHECK (message_id ~ '^msg_[a-z2-7]{26}$'),
    caller text NOT NULL,
    idempotency_key text NOT NULL,
    template text NOT NULL CHECK (template ~ '^[a-z][a-z_]{0,63}$'),
    sender text NOT NULL CHECK (length(sender) <= 320 AND sender !~ '[\r\n]'),
    recipient text NOT NULL
        CHECK (length(recipient) <= 254 AND recipient ~ '^[^@\s]+@[^@\s]+$'),
    subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 500 AND subject !~ '[\r\n]'),
    body_text text NOT NULL,
    body_html text NOT NULL,
    reference text CHECK (reference ~ '^[A-Za-z0-9_.:\-]{1,128}$'),
    -- The Message-ID header, the same on every attempt so that receivers can drop repeats.
    header_message_id text NOT NULL UNIQUE CHECK (header_message_id ~ '^<[^<>\s]+@[^<>\s]+>$'),
    status text NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'dead')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL CHECK (max_attempts >= 1),
    next_attempt_at timestamptz,
    lease_token text,
    lease_expires_at timestamptz,
    last_error text CHECK (length(last_error) <= 1000),
    provider_message_id text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    sent_at timestamptz,
    UNIQUE (caller, idempotency_key),
    CHECK (attempts <= max_attempts),
    CHECK ((status IN ('queued', 'failed')) = (next_attempt_at IS NOT NULL)),
    CHECK ((status = 'sending') = (lease_token IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    CHECK (status NOT IN ('failed', 'dead') OR last_error IS NOT NULL),
    CHECK (status <> 'sending' OR attempts >= 1)
);

-- What the worker scans: due messages, and claims whose lease may have run out.
CREATE INDEX messages_due_idx ON notify.messages (next_attempt_at)
    WHERE status IN ('queued', 'failed');
CREATE INDEX messages_leased_idx ON notify.messages (lease_expires_at)
    WHERE status = 'sending';
CREATE INDEX messages_recipient_idx ON notify.messages (lower(recipient), created_at);
CREATE INDEX messages_reference_idx ON notify.messages (reference, created_at);

CREATE TABLE notify.idempotency_keys (
    caller text NOT NULL,
    tool text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    response jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, tool, key)
);
