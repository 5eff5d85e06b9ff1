-- Found by the soak (issue 23): with every sign-in kept, three queries read every sign-in an
-- account or device ever had, and a server slowed from 213 to 59 rounds/s within 9 minutes.
-- Waiting sign-ins of an account (the pending count, a device's list) by state first:
CREATE INDEX logins_account_state ON logins(account_id, state, expires_at);
DROP INDEX logins_account;
-- A sign-in's challenges (its progress on the approve page, a relying party's status):
CREATE INDEX challenges_login ON challenges(login_id);
-- Ended sign-ins are deleted a week after they expire (their challenges with them):
CREATE INDEX logins_expiry ON logins(expires_at);
