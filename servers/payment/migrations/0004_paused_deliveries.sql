-- A delivery to a disabled endpoint is paused rather than left pending, so that the worker's
-- claim can read the pending deliveries alone, in the order of their partial index, and stop at
-- the first. Joined to the endpoints before its LIMIT, the claim was planned as a read and a sort
-- of every due delivery whenever the statistics predated a backlog (bench/README.md, "Payment:
-- confirmations"). Enabling the endpoint again resumes its paused deliveries; those pending for
-- an endpoint disabled before this migration are paused by the worker when it comes to them.

ALTER TABLE payment.webhook_deliveries DROP CONSTRAINT webhook_deliveries_status_check;

ALTER TABLE payment.webhook_deliveries ADD CONSTRAINT webhook_deliveries_status_check
    CHECK (status IN ('pending', 'paused', 'delivered', 'failed'));

CREATE INDEX webhook_deliveries_paused_idx
    ON payment.webhook_deliveries (endpoint_id) WHERE status = 'paused';
