-- Client lifecycle (sqlite): secret rotation with an overlap window, disabling, and a revision
-- that makes every change a compare-and-set (an edit made from an older read is refused).
--
-- Clients from before this migration: never rotated (their secret is the registration's), no
-- previous secret, enabled, revision 0.
ALTER TABLE oauth_clients ADD COLUMN previous_secret_hash BLOB NULL;
ALTER TABLE oauth_clients ADD COLUMN previous_secret_expires_at BIGINT NULL;
ALTER TABLE oauth_clients ADD COLUMN secret_rotated_at BIGINT NULL;
ALTER TABLE oauth_clients ADD COLUMN disabled_at BIGINT NULL;
ALTER TABLE oauth_clients ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

-- Revoking a deleted client's refresh families looks them up by client.
CREATE INDEX refresh_families_client_id_idx ON refresh_families (client_id);
