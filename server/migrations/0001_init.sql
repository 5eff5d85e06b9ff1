-- Latchkey reference server schema. Portable between SQLite and PostgreSQL: only TEXT and
-- BIGINT columns; binary values are base64url text; times are unix seconds.

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    muted_until   BIGINT NOT NULL DEFAULT 0
);

-- Every address on the account is notified of security events (P7).
CREATE TABLE addresses (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    address    TEXT NOT NULL,
    PRIMARY KEY (account_id, address)
);

CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    state           TEXT NOT NULL,            -- pending | enrolling | active | removed
    pin_source      TEXT NOT NULL,            -- web | app
    device_key      TEXT,                     -- compressed SEC1, base64url
    assurance       TEXT,
    model           TEXT,
    oprf_key        TEXT NOT NULL,            -- sealed under the server master key
    approval_key    TEXT,
    epoch           BIGINT NOT NULL DEFAULT 0,
    failures        BIGINT NOT NULL DEFAULT 0, -- consecutive PIN failures (P2)
    last_counter    BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT,
    code_hash       TEXT UNIQUE,              -- SHA-256 of the enrolment code; NULL once used
    code_expires_at BIGINT NOT NULL,
    pin_check       TEXT,                     -- sealed; NULL once used or never set
    enrol_link      TEXT                      -- sealed QR link for the owner's page; NULL once used
);
CREATE INDEX devices_account ON devices(account_id);

-- A sign-in attempt on the web, waiting for a device.
CREATE TABLE logins (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    code        TEXT NOT NULL,                -- the number shown on the login page
    state       TEXT NOT NULL,                -- pending | approved | denied | reported | mismatch
    browser     TEXT NOT NULL,
    ip          TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    answered_by TEXT
);
CREATE INDEX logins_account ON logins(account_id);

-- One challenge per device per sign-in; a push carries only its id.
CREATE TABLE challenges (
    id          TEXT PRIMARY KEY,
    login_id    TEXT NOT NULL REFERENCES logins(id) ON DELETE CASCADE,
    device_id   TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    evaluations BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX challenges_device ON challenges(device_id);

-- PIN change and forgotten-PIN reset operations (two-phase).
CREATE TABLE operations (
    device_id   TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    kind        TEXT NOT NULL,                -- change | reset
    state       TEXT NOT NULL,                -- started | staged | committed | aborted
    staged_key  TEXT,                         -- sealed fresh OPRF key
    new_epoch   BIGINT NOT NULL,
    code_hash   TEXT,                         -- reset: SHA-256 of the e-mailed code
    attempts    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (device_id, id)
);

-- Replay protection for signed device requests.
CREATE TABLE request_ids (
    device_id  TEXT NOT NULL,
    request_id TEXT NOT NULL,
    seen_at    BIGINT NOT NULL,
    PRIMARY KEY (device_id, request_id)
);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,              -- SHA-256 of the cookie value
    account_id TEXT REFERENCES accounts(id) ON DELETE CASCADE,
    stage      TEXT NOT NULL,                 -- anonymous | approving | signed_in
    login_id   TEXT,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Fixed-window counters for throttling (password, one-time code, resets, pushes).
CREATE TABLE throttle (
    key          TEXT PRIMARY KEY,
    count        BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);

CREATE TABLE audit (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    device_id  TEXT,
    event      TEXT NOT NULL,
    detail     TEXT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX audit_account ON audit(account_id, at);
