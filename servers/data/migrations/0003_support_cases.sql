-- Support cases: a customer's request for a person (request_human_help on the ticket server),
-- kept here with the customer, ticket and order it is about so that ops see it in one place.

CREATE TABLE data.support_cases (
    reference text PRIMARY KEY CHECK (reference ~ '^SUP-[0-9A-Z]{8}$'),
    customer_id text NOT NULL REFERENCES data.customers (customer_id),
    summary text NOT NULL CHECK (length(summary) BETWEEN 1 AND 2000),
    preferred_contact text NOT NULL CHECK (length(preferred_contact) BETWEEN 1 AND 32),
    ticket_number text,
    order_id text REFERENCES data.upgrade_orders (order_id),
    status text NOT NULL CHECK (status IN ('open', 'closed')),
    resolution text CHECK (length(resolution) BETWEEN 1 AND 2000),
    closed_by text,
    created_at timestamptz NOT NULL,
    closed_at timestamptz,
    -- A case names only its own customer's ticket.
    FOREIGN KEY (ticket_number, customer_id) REFERENCES data.tickets (ticket_number, customer_id),
    CHECK ((status = 'open') = (closed_at IS NULL)),
    CHECK ((status = 'open') = (resolution IS NULL AND closed_by IS NULL))
);

CREATE INDEX support_cases_status_idx ON data.support_cases (status, created_at);
CREATE INDEX support_cases_customer_idx ON data.support_cases (customer_id, created_at);
