-- The intent keeps its latest charge, as a processor's intent does, instead of every read of an
-- intent looking it up among the charges. A charge is then written with the intent's update in one
-- statement, and the latest charge is the one written last: ordering by created_at could not tell
-- two charges made within one tick of the clock apart.

ALTER TABLE payment.charges ADD UNIQUE (charge_id, payment_intent_id);

ALTER TABLE payment.payment_intents ADD COLUMN latest_charge text;

UPDATE payment.payment_intents i SET latest_charge = (
    SELECT c.charge_id FROM payment.charges c WHERE c.payment_intent_id = i.payment_intent_id
    ORDER BY c.created_at DESC, c.charge_id LIMIT 1);

-- One of the intent's own charges, never another intent's.
ALTER TABLE payment.payment_intents ADD FOREIGN KEY (latest_charge, payment_intent_id)
    REFERENCES payment.charges (charge_id, payment_intent_id);
