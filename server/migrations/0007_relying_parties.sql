-- Relying parties (issue 20): other login systems use Latchkey through /rp/v1 with an API key.

-- An application (a relying party). Its users are its own: it can see and push to no other.
CREATE TABLE rp_apps (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,            -- shown in the app ("Intranet — alice")
    created_at          BIGINT NOT NULL,
    revoked_at          BIGINT,                   -- every key refused from then on
    webhook_url         TEXT,                     -- https only
    webhook_secret      TEXT,                     -- sealed under the master key
    requests_per_minute BIGINT NOT NULL DEFAULT 600,
    ciba_issuer         TEXT                      -- the OpenID provider whose CIBA requests it takes
);

-- API keys: shown once, stored as the SHA-256 of their 256-bit secret, revocable one by one.
CREATE TABLE rp_keys (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES rp_apps(id) ON DELETE CASCADE,
    key_hash   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- An application's user is an account of its own (no password: the application signs people
-- in; web sign-in refuses these accounts).
ALTER TABLE accounts ADD COLUMN app_id TEXT;
CREATE TABLE rp_users (
    app_id       TEXT NOT NULL REFERENCES rp_apps(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    account_id   TEXT NOT NULL UNIQUE REFERENCES accounts(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (app_id, user_id)
);

-- When an address was added after the account's first device (0: before, or a web account):
-- such an address receives no proof code for a week (P7).
ALTER TABLE addresses ADD COLUMN added_at BIGINT NOT NULL DEFAULT 0;

-- What a sign-in shows on the device when it is not the server's own login page.
ALTER TABLE logins ADD COLUMN service TEXT;
ALTER TABLE logins ADD COLUMN location TEXT;

-- An authentication an application started: a sign-in (none when the user had no device that
-- could approve), and the idempotency key it was started with.
CREATE TABLE rp_transactions (
    id              TEXT PRIMARY KEY,
    app_id          TEXT NOT NULL REFERENCES rp_apps(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    login_id        TEXT,
    idempotency_key TEXT,
    request_hash    TEXT NOT NULL,
    proof_used      BIGINT NOT NULL DEFAULT 0,    -- spent as the proof for adding or removing a device
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    UNIQUE (app_id, idempotency_key)
);
CREATE INDEX rp_transactions_login ON rp_transactions(login_id);

-- Events of an application's users: the feed, and the webhook outbox (state none when the
-- application has no webhook).
CREATE TABLE rp_events (
    id             TEXT PRIMARY KEY,
    app_id         TEXT NOT NULL REFERENCES rp_apps(id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL,
    kind           TEXT NOT NULL,               -- authentication.approved, security.device_removed, …
    transaction_id TEXT,
    device_id      TEXT,
    detail         TEXT NOT NULL,
    created_ms     BIGINT NOT NULL,
    state          TEXT NOT NULL,               -- none | pending | sent | failed
    next_ms        BIGINT NOT NULL,
    claim          TEXT NOT NULL DEFAULT '',
    attempts       BIGINT NOT NULL DEFAULT 0,
    outcome        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX rp_events_feed ON rp_events(app_id, created_ms);
CREATE INDEX rp_events_due ON rp_events(state, next_ms);

-- One-time codes mailed to an application's user (proof for adding or removing a device when
-- no device can approve): the hash, expiry and attempts.
CREATE TABLE rp_codes (
    app_id     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, user_id)
);

-- Every call an application makes (never a secret: the route, the user, the status).
CREATE TABLE rp_audit (
    id      TEXT PRIMARY KEY,
    app_id  TEXT NOT NULL,
    key_id  TEXT NOT NULL,
    method  TEXT NOT NULL,
    route   TEXT NOT NULL,
    status  BIGINT NOT NULL,
    ip      TEXT NOT NULL,
    at_ms   BIGINT NOT NULL
);
CREATE INDEX rp_audit_app ON rp_audit(app_id, at_ms);

-- OpenID CIBA requests taken as a Keycloak authentication channel: the provider's token (sealed:
-- it is sent back with the result), where the result goes, and its delivery (exactly once).
CREATE TABLE rp_ciba (
    transaction_id TEXT PRIMARY KEY,
    app_id         TEXT NOT NULL REFERENCES rp_apps(id) ON DELETE CASCADE,
    token          TEXT NOT NULL,
    callback_url   TEXT NOT NULL,
    expires_at     BIGINT NOT NULL,             -- the token's expiry, unix seconds
    state          TEXT NOT NULL,               -- pending | sent | failed | expired
    next_ms        BIGINT NOT NULL,
    claim          TEXT NOT NULL DEFAULT '',
    outcome        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX rp_ciba_due ON rp_ciba(state, next_ms);
