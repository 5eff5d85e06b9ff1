-- Where each device is woken: one target per device, replaced when its token rotates, dropped
-- when the provider says it is gone. Only active devices are pushed.
CREATE TABLE push_targets (
    device_id     TEXT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,            -- fcm | apns | wns | webpush
    token         TEXT NOT NULL,            -- registration token, device token, channel URI, endpoint
    p256dh        TEXT,                     -- Web Push subscription key, base64url
    auth          TEXT,                     -- Web Push auth secret, base64url
    registered_at BIGINT NOT NULL
);

-- The push outbox: a job is written in the transaction that creates the challenge, and a sender
-- delivers it with retries until it is sent, refused, gone, or the challenge expires. A failed
-- push never stops the challenge: long-poll delivers it either way.
CREATE TABLE push_jobs (
    id           TEXT PRIMARY KEY,
    challenge_id TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    created_ms   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,           -- the challenge's expiry, unix seconds
    next_ms      BIGINT NOT NULL,           -- not tried before (unix ms); a claim leases it forward
    claim        TEXT NOT NULL DEFAULT '',  -- the current claim: only its holder records an outcome
    attempts     BIGINT NOT NULL DEFAULT 0,
    state        TEXT NOT NULL,             -- pending | sent | refused | gone | expired | untargeted
    outcome      TEXT NOT NULL DEFAULT '',  -- the provider's last answer, for operators (no token)
    done_ms      BIGINT
);
CREATE INDEX push_jobs_due ON push_jobs (state, next_ms);
