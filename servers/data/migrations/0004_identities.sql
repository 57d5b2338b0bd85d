-- Customers as an identity provider names them. Amazon Cognito's `sub` is a UUID of its own,
-- not our cus_ id (the dev provider's is), so the servers map (issuer, subject) to a customer:
-- one row per sign-in identity, made on the customer's first sign-in.
CREATE TABLE data.identities (
    issuer text NOT NULL CHECK (issuer ~ '^https?://' AND length(issuer) <= 500),
    subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    customer_id text NOT NULL REFERENCES data.customers (customer_id),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX identities_customer ON data.identities (customer_id);
