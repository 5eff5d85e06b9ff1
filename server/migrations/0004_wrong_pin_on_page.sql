-- When a PIN was last evaluated for a sign-in request. The "Approve on your device" page tells
-- the person that a wrong PIN was typed: an evaluation not followed by an approval within a few
-- seconds (or followed by another evaluation) was a wrong PIN.
ALTER TABLE challenges ADD COLUMN evaluated_at BIGINT NOT NULL DEFAULT 0;

-- When a sign-in was created, in milliseconds: devices list live requests newest first, and two
-- sign-ins within one second must still come in a definite order.
ALTER TABLE logins ADD COLUMN created_ms BIGINT NOT NULL DEFAULT 0;
