-- A customer's card is saved once: saving the same card (its fingerprint and expiry) again
-- answers with the one already saved, where each payment that asked to save the card used to add
-- another identical entry to the customer's list. Copies saved before are detached, the newest of
-- each card kept; a detached card still completes the payment it is attached to, and its row
-- stays for the charges that name it.

UPDATE payment.payment_methods m SET detached_at = now()
WHERE m.detached_at IS NULL AND m.owner IS NOT NULL AND EXISTS (
    SELECT 1 FROM payment.payment_methods n
    WHERE n.owner = m.owner AND n.fingerprint = m.fingerprint
      AND n.exp_month = m.exp_month AND n.exp_year = m.exp_year AND n.detached_at IS NULL
      AND (n.created_at, n.payment_method_id) > (m.created_at, m.payment_method_id));

-- A service's methods (no owner) are never the same saved card: NULLs are distinct here.
CREATE UNIQUE INDEX payment_methods_one_saved_per_card
    ON payment.payment_methods (owner, fingerprint, exp_month, exp_year)
    WHERE detached_at IS NULL;
