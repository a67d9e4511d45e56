-- Authentication context (sqlite): refresh families keep how and when the user signed in
-- (RFC 8176 `amr`, Gatehouse's `acr`, `auth_time`), so that tokens refreshed from a family
-- describe the original sign-in (OpenID Connect Core §12.2); clients may require a second
-- factor of every sign-in.
--
-- Families created before this migration carry no record of their sign-in. They get the
-- defaults that never overstate it: no `amr` (the claim is left out rather than guessed: `pwd`
-- would be false for a sign-in through an upstream provider), `acr` one factor (never `mfa`:
-- a client or API that requires a second factor refuses them, the user signs in again), and
-- `auth_time` 0 = unknown (no claim, never fresh enough for `max_age`). First-party families
-- (client `gatehouse`) are the exception for `auth_time`: they start at the sign-in itself, so
-- their `created_at` is exact.
ALTER TABLE refresh_families ADD COLUMN amr TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_families ADD COLUMN acr TEXT NOT NULL DEFAULT 'urn:gatehouse:acr:1fa';
ALTER TABLE refresh_families ADD COLUMN auth_time BIGINT NOT NULL DEFAULT 0;
UPDATE refresh_families SET auth_time = created_at WHERE client_id = 'gatehouse';

ALTER TABLE oauth_clients ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT 0 CHECK (require_mfa IN (0, 1));
