-- Registrations waiting for their address to be confirmed: the link mailed to it finishes them.
-- Registering answers the same whether the address has an account or not (the owner of an
-- existing account gets a notice instead of a link).
CREATE TABLE registrations (
    token_hash    TEXT PRIMARY KEY,          -- SHA-256 of the mailed token
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
