-- OpenID Connect Back-Channel Logout 1.0 (sqlite).
--
-- §2.2: a client's back-channel logout endpoint, and whether it needs `sid` in logout tokens.
ALTER TABLE oauth_clients ADD COLUMN backchannel_logout_uri TEXT NULL;
ALTER TABLE oauth_clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT 0
    CHECK (backchannel_logout_session_required IN (0, 1));

-- §2.3: the clients each browser session signed in to (only clients with a logout endpoint),
-- and, once the session has ended, the durable queue of logout tokens to send (§2.5, §2.8).
-- `live` rows wait for their session to end; `pending` rows are due at `next_attempt_at` and
-- claimed with a lease (`locked_until`) so that one node sends each; a delivered row is
-- deleted; a row given up on is `failed` (kept for operators, purged later).
CREATE TABLE backchannel_logouts (
    -- The grant's id: the `sid` of the ID tokens issued under it.
    grant_id        BLOB    NOT NULL PRIMARY KEY CHECK (length(grant_id) = 16),
    -- The Gatehouse session (no foreign key: the row outlives the session on purpose).
    session_id      BLOB    NOT NULL CHECK (length(session_id) = 16),
    client_id       TEXT    NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    -- The `sub` (no foreign key: a deleted user's clients are still told).
    user_id         BLOB    NOT NULL CHECK (length(user_id) = 16),
    status          TEXT    NOT NULL CHECK (status IN ('live', 'pending', 'failed')),
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NULL,
    locked_until    BIGINT  NULL,
    -- The last answer or transport error, shortened.
    last_error      TEXT    NULL,
    created_at      BIGINT  NOT NULL,
    ended_at        BIGINT  NULL,
    failed_at       BIGINT  NULL
);

CREATE INDEX backchannel_logouts_session_idx ON backchannel_logouts (session_id);
CREATE INDEX backchannel_logouts_user_idx ON backchannel_logouts (user_id);
CREATE INDEX backchannel_logouts_due_idx ON backchannel_logouts (status, next_attempt_at);
