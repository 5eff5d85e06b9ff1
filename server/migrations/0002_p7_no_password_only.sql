-- P7: no password-only way in once an account has had a device.

-- 1 once any device of the account finished enrolment (never goes back to 0). Accounts that
-- already had a device before this migration are marked conservatively (any device that was
-- enrolled or removed).
ALTER TABLE accounts ADD COLUMN had_device BIGINT NOT NULL DEFAULT 0;
UPDATE accounts SET had_device = 1
 WHERE id IN (SELECT account_id FROM devices WHERE state IN ('active', 'removed'));

-- 1 for a device added on the password alone (the account's first device). Its enrolment is
-- refused at the finish if another device of the account finished first.
ALTER TABLE devices ADD COLUMN bootstrap BIGINT NOT NULL DEFAULT 0;

-- How the session proved who it is: password (only a brand-new account), device (a sign-in
-- approved on a device), mailed (password plus a one-time code mailed to the account), and
-- when it last did (adding or removing a device needs a recent proof).
ALTER TABLE sessions ADD COLUMN strength TEXT NOT NULL DEFAULT 'password';
ALTER TABLE sessions ADD COLUMN confirmed_at BIGINT NOT NULL DEFAULT 0;
-- A one-time code mailed for this session: its hash, expiry and the attempts made.
ALTER TABLE sessions ADD COLUMN code_hash TEXT;
ALTER TABLE sessions ADD COLUMN code_expires_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN code_attempts BIGINT NOT NULL DEFAULT 0;

-- When a sign-in was answered: a browser redeems an approval once, and the session counts as
-- confirmed from that moment, not from whenever the page is next loaded.
ALTER TABLE logins ADD COLUMN answered_at BIGINT NOT NULL DEFAULT 0;

-- Enrolments under way during the upgrade on accounts that never had a device are first-device
-- enrolments too.
UPDATE devices SET bootstrap = 1
 WHERE state IN ('pending', 'enrolling')
   AND account_id IN (SELECT id FROM accounts WHERE had_device = 0);
