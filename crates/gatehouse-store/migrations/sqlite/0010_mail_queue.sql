-- The durable mail queue (SQLite): messages waiting for delivery, sealed under the master
-- key (they may hold reset and verification links). Only recipient-free metadata is in clear.
-- Delivered messages are deleted; failed ones keep their metadata and lose their body.
CREATE TABLE mail_queue (
    id              BLOB    NOT NULL PRIMARY KEY,
    -- The notice's kind (`reset_password`, ...): never the address.
    kind            TEXT    NOT NULL,
    -- nonce || AES-256-GCM ciphertext || tag, bound to `id`; NULL once failed.
    sealed_body     BLOB    NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'failed')),
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    -- A worker's lease: set by a claim, so two nodes never send one message at once.
    locked_until    BIGINT  NULL,
    -- The transport's last error, shortened, without addresses.
    last_error      TEXT    NULL,
    created_at      BIGINT  NOT NULL,
    failed_at       BIGINT  NULL
);

CREATE INDEX mail_queue_due_idx ON mail_queue (status, next_attempt_at);
