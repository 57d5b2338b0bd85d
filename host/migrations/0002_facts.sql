-- Long-term memory: facts the model chose to keep about a customer (preferred tier, party,
-- accessibility needs), read into the model's context in the customer's later sessions. Keyed
-- by customer, so one customer's facts can never be read for another. A fact said again is
-- kept once, as recent as its latest mention.

CREATE TABLE host.facts (
    customer_id text NOT NULL CHECK (length(customer_id) BETWEEN 1 AND 100),
    fact text NOT NULL CHECK (length(fact) BETWEEN 1 AND 300),
    -- Where it was last said; the fact outlives its session.
    session_id text REFERENCES host.sessions ON DELETE SET NULL,
    remembered_at timestamptz NOT NULL,
    PRIMARY KEY (customer_id, fact)
);

CREATE INDEX facts_by_recency ON host.facts (customer_id, remembered_at DESC);
