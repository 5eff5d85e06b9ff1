-- Android key attestation (issue 21): what verified the device key's assurance, when a chain
-- was sent and passed ('android:tee', 'android:strongbox'); NULL when the assurance is only
-- what the app claimed.
ALTER TABLE devices ADD COLUMN attestation TEXT;
-- The serial numbers of that chain (' s1 s2 … ', lower-case hex): a revocation in Google's
-- status list later withdraws the "verified" of every device attested through it.
ALTER TABLE devices ADD COLUMN attestation_serials TEXT;
