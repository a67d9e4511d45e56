//! SQL both backends run unchanged: the schemas agree on names and meaning, and `$n`
//! placeholders work on SQLite and PostgreSQL alike. Values are always bound, never formatted in.

macro_rules! user_columns {
    () => {
        "id, email, email_key, display_name, password_hash, status, email_verified, created_at, updated_at"
    };
}

macro_rules! session_columns {
    () => {
        "id, user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent, amr, auth_time"
    };
}

macro_rules! audit_columns {
    () => {
        "occurred_at, event_type, actor, subject, ip, user_agent, outcome, details"
    };
}

macro_rules! key_columns {
    () => {
        "kid, alg, sealed_private_key, public_jwk, created_at, activates_at, rotation_slot"
    };
}

/// Qualified with `f.`, for statements that join `refresh_tokens t`.
macro_rules! family_columns {
    () => {
        "f.id, f.user_id, f.client_id, f.scope, f.created_at, f.expires_at, f.revoked_at, f.revoked_reason, \
         f.amr, f.acr, f.auth_time, f.dpop_jkt"
    };
}

macro_rules! client_columns {
    () => {
        "id, name, secret_hash, auth_method, redirect_uris, post_logout_redirect_uris, grant_types, scopes, \
         cors_origins, skip_consent, access_token_lifetime, created_at, jwks, require_mfa, previous_secret_hash, \
         previous_secret_expires_at, secret_rotated_at, disabled_at, revision, require_pushed_authorization_requests, \
         registration, registration_token_hash, metadata_expires_at, first_used_at, backchannel_logout_uri, \
         backchannel_logout_session_required, \
         dpop_bound_access_tokens"
    };
}

macro_rules! code_columns {
    () => {
        "code_hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, auth_time, created_at, \
         expires_at, grant_id, amr, dpop_jkt"
    };
}

macro_rules! consent_columns {
    () => {
        "client_id, scopes, granted_at"
    };
}

// Users.

pub(crate) const INSERT_USER: &str =
    concat!("INSERT INTO users (", user_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
pub(crate) const USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
pub(crate) const USER_BY_EMAIL_KEY: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE email_key = $1");
/// Ids compare as 16 raw bytes on both backends (SQLite BLOB memcmp, PostgreSQL `uuid`), the
/// order of [`uuid::Uuid`]'s `Ord`; for UUIDv7 that is creation order.
pub(crate) const LIST_USERS_FIRST: &str = concat!("SELECT ", user_columns!(), " FROM users ORDER BY id LIMIT $1");
pub(crate) const LIST_USERS_AFTER: &str =
    concat!("SELECT ", user_columns!(), " FROM users WHERE id > $1 ORDER BY id LIMIT $2");
pub(crate) const SET_PASSWORD_HASH: &str = "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1";
pub(crate) const SET_USER_STATUS: &str = "UPDATE users SET status = $2, updated_at = $3 WHERE id = $1";
/// `$1` is a LIKE pattern whose `%`, `_` and `\` inside the needle are escaped with `\`.
pub(crate) const SEARCH_USERS_FIRST: &str =
    concat!("SELECT ", user_columns!(), " FROM users WHERE email_key LIKE $1 ESCAPE '\\' ORDER BY id LIMIT $2");
pub(crate) const SEARCH_USERS_AFTER: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE email_key LIKE $1 ESCAPE '\\' AND id > $3 ORDER BY id LIMIT $2"
);
pub(crate) const SET_DISPLAY_NAME: &str = "UPDATE users SET display_name = $2, updated_at = $3 WHERE id = $1";
pub(crate) const DELETE_USER: &str = "DELETE FROM users WHERE id = $1";
pub(crate) const DELETE_ACCEPTED_INVITATIONS: &str = "DELETE FROM invitations WHERE accepted_user_id = $1";

// Sessions.

pub(crate) const INSERT_SESSION: &str =
    concat!("INSERT INTO sessions (", session_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
pub(crate) const SESSION_BY_TOKEN_HASH: &str =
    concat!("SELECT ", session_columns!(), " FROM sessions WHERE token_hash = $1");
/// The session and its user; user columns other than the id get a `user_` prefix.
pub(crate) const SESSION_WITH_USER: &str = concat!(
    "SELECT s.id, s.user_id, s.token_hash, s.created_at, s.last_seen_at, s.expires_at, s.ip, s.user_agent, ",
    "u.email AS user_email, u.email_key AS user_email_key, u.display_name AS user_display_name, ",
    "u.password_hash AS user_password_hash, u.status AS user_status, u.email_verified AS user_email_verified, ",
    // `amr` and `auth_time` (0008) last: readers that map columns by position keep their indices.
    "u.created_at AS user_created_at, u.updated_at AS user_updated_at, s.amr, s.auth_time ",
    "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1"
);
pub(crate) const TOUCH_SESSION: &str = "UPDATE sessions SET last_seen_at = $2 WHERE id = $1";
pub(crate) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE id = $1";
pub(crate) const DELETE_USER_SESSION: &str = "DELETE FROM sessions WHERE id = $1 AND user_id = $2";
/// Newest first, as an account's session list shows them.
pub(crate) const SESSIONS_FOR_USER: &str =
    concat!("SELECT ", session_columns!(), " FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id DESC");
pub(crate) const DELETE_SESSIONS_FOR_USER: &str = "DELETE FROM sessions WHERE user_id = $1";
pub(crate) const DELETE_OTHER_SESSIONS_FOR_USER: &str = "DELETE FROM sessions WHERE user_id = $1 AND id <> $2";
pub(crate) const PURGE_EXPIRED_SESSIONS: &str = "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2";

// Audit.

pub(crate) const APPEND_AUDIT_EVENT: &str =
    concat!("INSERT INTO audit_events (", audit_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
/// Newest first by insertion order (`id`), not by `occurred_at`: clocks on several nodes differ.
pub(crate) const RECENT_AUDIT_EVENTS: &str =
    concat!("SELECT ", audit_columns!(), " FROM audit_events ORDER BY id DESC LIMIT $1");

/// The admin API's filter: each `NULL` parameter matches everything. Newest first by `id`;
/// `$6` continues after a previous page.
pub(crate) const QUERY_AUDIT_EVENTS: &str = concat!(
    "SELECT id, ",
    audit_columns!(),
    " FROM audit_events WHERE ($1 IS NULL OR occurred_at >= $1) AND ($2 IS NULL OR occurred_at < $2) \
     AND ($3 IS NULL OR event_type = $3) AND ($4 IS NULL OR actor = $4) AND ($5 IS NULL OR subject = $5) \
     AND ($6 IS NULL OR id < $6) ORDER BY id DESC LIMIT $7"
);

// Signing keys.

/// A clash on the kid or on `(alg, rotation_slot)` inserts nothing and is no error: it is how
/// nodes racing to schedule the same rotation agree on one key.
pub(crate) const INSERT_SIGNING_KEY: &str = concat!(
    "INSERT INTO signing_keys (",
    key_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
);
pub(crate) const SIGNING_KEYS: &str = concat!("SELECT ", key_columns!(), " FROM signing_keys ORDER BY created_at, kid");
pub(crate) const DELETE_SIGNING_KEY: &str = "DELETE FROM signing_keys WHERE kid = $1";

// Refresh tokens.

pub(crate) const INSERT_REFRESH_FAMILY: &str = "INSERT INTO refresh_families \
     (id, user_id, client_id, scope, created_at, expires_at, revoked_at, revoked_reason, amr, acr, auth_time, \
      dpop_jkt) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
pub(crate) const INSERT_REFRESH_TOKEN: &str =
    "INSERT INTO refresh_tokens (token_hash, family_id, created_at, idle_expires_at) VALUES ($1, $2, $3, $4)";
/// The first statement of a rotation: a conditional write, so it takes the row's write lock
/// (PostgreSQL) before anything is read, and of concurrent callers exactly one matches. `$2`
/// is now.
pub(crate) const CONSUME_REFRESH_TOKEN: &str = "UPDATE refresh_tokens SET used_at = $2 \
     WHERE token_hash = $1 AND used_at IS NULL AND idle_expires_at > $2 \
     AND EXISTS (SELECT 1 FROM refresh_families f \
                 WHERE f.id = refresh_tokens.family_id AND f.revoked_at IS NULL AND f.expires_at > $2) \
     RETURNING family_id";
/// A token's family and the token's `used_at`, for a rotation that consumed nothing.
pub(crate) const REFRESH_TOKEN_STATE: &str = concat!(
    "SELECT t.used_at, ",
    family_columns!(),
    " FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.token_hash = $1"
);
pub(crate) const REFRESH_FAMILY_BY_TOKEN: &str = concat!(
    "SELECT ",
    family_columns!(),
    " FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.token_hash = $1"
);
/// The family of a token that could be rotated now (introspection). `$2` is now.
pub(crate) const CURRENT_REFRESH_FAMILY: &str = concat!(
    "SELECT ",
    family_columns!(),
    " FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.token_hash = $1 \
      AND t.used_at IS NULL AND t.idle_expires_at > $2 AND f.revoked_at IS NULL AND f.expires_at > $2"
);
pub(crate) const REFRESH_FAMILY: &str =
    concat!("SELECT ", family_columns!(), " FROM refresh_families f WHERE f.id = $1");
/// Revocation is one-way: a revoked family keeps its first revocation time and reason.
pub(crate) const REVOKE_REFRESH_FAMILY: &str =
    "UPDATE refresh_families SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL";
/// Live families only: expired ones already stop working and keep no revocation record.
pub(crate) const REVOKE_REFRESH_FAMILIES_FOR_USER: &str = "UPDATE refresh_families SET revoked_at = $2, revoked_reason = $3 \
     WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2";
pub(crate) const REVOKE_REFRESH_FAMILIES_FOR_USER_CLIENT: &str = "UPDATE refresh_families \
     SET revoked_at = $2, revoked_reason = $3 \
     WHERE user_id = $1 AND client_id = $4 AND revoked_at IS NULL AND expires_at > $2";
pub(crate) const BIND_REFRESH_FAMILY_DPOP: &str =
    "UPDATE refresh_families SET dpop_jkt = $2 WHERE id = $1 AND dpop_jkt IS NULL";
pub(crate) const SET_REFRESH_FAMILY_ORIGIN: &str = "UPDATE refresh_families SET ip = $2, user_agent = $3 WHERE id = $1";
/// Live families of a user with one client that still have a usable token (`$3` now), newest
/// first, with their last use: the creation time of their newest token.
pub(crate) const LIVE_REFRESH_FAMILIES: &str = concat!(
    "SELECT ",
    family_columns!(),
    ", f.ip, f.user_agent, \
     (SELECT MAX(t.created_at) FROM refresh_tokens t WHERE t.family_id = f.id) AS last_used_at \
     FROM refresh_families f \
     WHERE f.user_id = $1 AND f.client_id = $2 AND f.revoked_at IS NULL AND f.expires_at > $3 \
     AND EXISTS (SELECT 1 FROM refresh_tokens t \
                 WHERE t.family_id = f.id AND t.used_at IS NULL AND t.idle_expires_at > $3) \
     ORDER BY f.created_at DESC, f.id"
);
/// Insert-if-absent: revoking twice changes nothing.
pub(crate) const REVOKE_ACCESS_TOKEN: &str = "INSERT INTO revoked_access_tokens (jti, client_id, expires_at) \
     VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING";
pub(crate) const ACCESS_TOKEN_REVOKED: &str = "SELECT expires_at FROM revoked_access_tokens WHERE jti = $1";
pub(crate) const PURGE_REVOKED_ACCESS_TOKENS: &str = "DELETE FROM revoked_access_tokens WHERE expires_at < $1";
/// Their tokens go with them (`ON DELETE CASCADE`).
pub(crate) const PURGE_REFRESH_FAMILIES: &str = "DELETE FROM refresh_families WHERE expires_at < $1 OR revoked_at < $1";

// OAuth clients.

pub(crate) const INSERT_CLIENT: &str = concat!(
    "INSERT INTO oauth_clients (",
    client_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
     $21, $22, $23, NULL, $24, $25, $26)"
);
/// Compare-and-set on the revision (`$18`): a change made from an older read updates nothing.
pub(crate) const UPDATE_CLIENT: &str = "UPDATE oauth_clients SET name = $2, secret_hash = $3, auth_method = $4, \
     redirect_uris = $5, post_logout_redirect_uris = $6, grant_types = $7, scopes = $8, cors_origins = $9, \
     skip_consent = $10, access_token_lifetime = $11, jwks = $12, require_mfa = $13, previous_secret_hash = $14, \
     previous_secret_expires_at = $15, secret_rotated_at = $16, disabled_at = $17, revision = revision + 1, \
     require_pushed_authorization_requests = $19, registration = $20, registration_token_hash = $21, \
     metadata_expires_at = $22, backchannel_logout_uri = $23, backchannel_logout_session_required = $24, \
     dpop_bound_access_tokens = $25 WHERE id = $1 AND revision = $18";
/// A deleted client's live families (its codes and consents go with the row).
pub(crate) const REVOKE_REFRESH_FAMILIES_FOR_CLIENT: &str = "UPDATE refresh_families \
     SET revoked_at = $2, revoked_reason = $3 WHERE client_id = $1 AND revoked_at IS NULL AND expires_at > $2";
pub(crate) const CLIENT_BY_ID: &str = concat!("SELECT ", client_columns!(), " FROM oauth_clients WHERE id = $1");
/// Ids break ties in byte order on both backends (SQLite BINARY, PostgreSQL `COLLATE "C"`).
pub(crate) const LIST_CLIENTS: &str =
    concat!("SELECT ", client_columns!(), " FROM oauth_clients ORDER BY created_at, id");
/// Its codes and consents go with it (`ON DELETE CASCADE`).
pub(crate) const DELETE_CLIENT: &str = "DELETE FROM oauth_clients WHERE id = $1";

// Client self-registration (RFC 7591, Client ID Metadata Documents).

pub(crate) const INSERT_INITIAL_ACCESS_TOKEN: &str =
    "INSERT INTO initial_access_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)";
pub(crate) const INITIAL_ACCESS_TOKEN_VALID: &str =
    "SELECT COUNT(*) FROM initial_access_tokens WHERE token_hash = $1 AND expires_at > $2";
/// Only the first use is kept: later ones change nothing (and write nothing).
pub(crate) const MARK_CLIENT_USED: &str =
    "UPDATE oauth_clients SET first_used_at = $2 WHERE id = $1 AND first_used_at IS NULL";
/// A disabled one stays (deleting it would let a metadata document bring it back enabled).
pub(crate) const UNUSED_REGISTRATIONS: &str = "SELECT id FROM oauth_clients \
     WHERE registration <> 'admin' AND first_used_at IS NULL AND disabled_at IS NULL AND created_at < $1 \
     ORDER BY created_at, id";

// Client assertion jtis (private_key_jwt replay protection).

/// Insert-if-absent in one statement: a live row (`expires_at > $4`, now) is left alone and
/// nothing is affected (a replay); an expired one is taken over. Concurrent callers serialise
/// on the primary key, so exactly one affects a row.
pub(crate) const RECORD_ASSERTION_JTI: &str = "INSERT INTO client_assertion_jtis (client_id, jti_hash, expires_at) \
     VALUES ($1, $2, $3) \
     ON CONFLICT (client_id, jti_hash) DO UPDATE SET expires_at = excluded.expires_at \
     WHERE client_assertion_jtis.expires_at <= $4";
pub(crate) const PURGE_ASSERTION_JTIS: &str = "DELETE FROM client_assertion_jtis WHERE expires_at <= $1";
/// Like [`RECORD_ASSERTION_JTI`]: one row per (key, jti) while it lives.
pub(crate) const RECORD_DPOP_JTI: &str = "INSERT INTO dpop_proof_jtis (jkt, jti_hash, expires_at) \
     VALUES ($1, $2, $3) \
     ON CONFLICT (jkt, jti_hash) DO UPDATE SET expires_at = excluded.expires_at \
     WHERE dpop_proof_jtis.expires_at <= $4";
pub(crate) const PURGE_DPOP_JTIS: &str = "DELETE FROM dpop_proof_jtis WHERE expires_at <= $1";

// Authorization codes.

pub(crate) const INSERT_CODE: &str = concat!(
    "INSERT INTO authorization_codes (",
    code_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);
/// The first statement of a redemption: a conditional write, so it takes the row's write lock
/// (PostgreSQL) before anything is read, and of concurrent callers exactly one matches. `$2`
/// is now.
pub(crate) const REDEEM_CODE: &str = concat!(
    "UPDATE authorization_codes SET used_at = $2 \
     WHERE code_hash = $1 AND client_id = $3 AND used_at IS NULL AND expires_at > $2 \
     RETURNING ",
    code_columns!()
);
/// A code and its `used_at`, for a redemption that marked nothing.
pub(crate) const CODE_STATE: &str =
    concat!("SELECT used_at, ", code_columns!(), " FROM authorization_codes WHERE code_hash = $1");
/// Used codes stay until they expire: until then a replay must still be recognised.
pub(crate) const PURGE_CODES: &str = "DELETE FROM authorization_codes WHERE expires_at < $1";
pub(crate) const PARK_AUTHORIZATION: &str =
    "INSERT INTO pending_authorizations (ref_hash, query, expires_at) VALUES ($1, $2, $3)";
pub(crate) const PARKED_AUTHORIZATION: &str =
    "SELECT query FROM pending_authorizations WHERE ref_hash = $1 AND expires_at > $2";
pub(crate) const PURGE_PARKED_AUTHORIZATIONS: &str = "DELETE FROM pending_authorizations WHERE expires_at < $1";
/// RFC 9126 §2.2: a pushed authorization request.
pub(crate) const PUSH_AUTHORIZATION: &str =
    "INSERT INTO pushed_authorization_requests (ref_hash, client_id, query, expires_at) VALUES ($1, $2, $3, $4)";
/// RFC 9126 §4: single use, in one statement: of concurrent takers exactly one gets the row.
/// Another client's or an expired request is left alone (and found by nobody).
pub(crate) const TAKE_PUSHED_AUTHORIZATION: &str = "DELETE FROM pushed_authorization_requests \
     WHERE ref_hash = $1 AND client_id = $2 AND expires_at > $3 RETURNING query";
pub(crate) const PURGE_PUSHED_AUTHORIZATIONS: &str = "DELETE FROM pushed_authorization_requests WHERE expires_at <= $1";

// Device authorization requests (RFC 8628).

macro_rules! device_columns {
    () => {
        "device_code_hash, user_code_hash, client_id, scope, created_at, expires_at, poll_interval, \
         last_polled_at, status, user_id, auth_time, amr, grant_id"
    };
}

pub(crate) const INSERT_DEVICE_AUTHORIZATION: &str = concat!(
    "INSERT INTO device_authorizations (",
    device_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, 'pending', NULL, NULL, NULL, $8)"
);
pub(crate) const DEVICE_AUTHORIZATION: &str =
    concat!("SELECT ", device_columns!(), " FROM device_authorizations WHERE device_code_hash = $1");
pub(crate) const PENDING_DEVICE_AUTHORIZATION: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM device_authorizations WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $2"
);
/// `$2` approved or denied; the user columns are NULL for a denial.
pub(crate) const DECIDE_DEVICE_AUTHORIZATION: &str = "UPDATE device_authorizations \
     SET status = $2, user_id = $3, auth_time = $4, amr = $5 \
     WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $6";
pub(crate) const RECORD_DEVICE_POLL: &str =
    "UPDATE device_authorizations SET last_polled_at = $2, poll_interval = $3 WHERE device_code_hash = $1";
/// A conditional write: of concurrent callers exactly one matches.
pub(crate) const CONSUME_DEVICE_AUTHORIZATION: &str = "UPDATE device_authorizations SET status = 'used' \
     WHERE device_code_hash = $1 AND status = 'approved' AND expires_at > $2";
pub(crate) const PURGE_DEVICE_AUTHORIZATIONS: &str = "DELETE FROM device_authorizations WHERE expires_at < $1";

// Consents.

pub(crate) const CONSENT: &str =
    concat!("SELECT ", consent_columns!(), " FROM oauth_consents WHERE user_id = $1 AND client_id = $2");
/// The first statement of a grant: creates the row with no scopes or refreshes its time, and
/// either way holds the row's write lock (PostgreSQL; SQLite is under `BEGIN IMMEDIATE`) until
/// the merged scopes are written, so concurrent grants merge one after the other. Returns the
/// scopes stored before this grant. `$3` is now.
pub(crate) const LOCK_CONSENT: &str = "INSERT INTO oauth_consents (user_id, client_id, scopes, granted_at) \
     VALUES ($1, $2, '[]', $3) \
     ON CONFLICT (user_id, client_id) DO UPDATE SET granted_at = excluded.granted_at \
     RETURNING scopes";
pub(crate) const SET_CONSENT_SCOPES: &str =
    "UPDATE oauth_consents SET scopes = $3 WHERE user_id = $1 AND client_id = $2";
pub(crate) const REVOKE_CONSENT: &str = "DELETE FROM oauth_consents WHERE user_id = $1 AND client_id = $2";
/// Newest first, as an account's list of connected applications shows them.
pub(crate) const CONSENTS_FOR_USER: &str = concat!(
    "SELECT ",
    consent_columns!(),
    " FROM oauth_consents WHERE user_id = $1 ORDER BY granted_at DESC, client_id"
);

// Roles and permissions (RBAC). Lists are in name order (byte order on both backends).

pub(crate) const INSERT_ROLE: &str =
    "INSERT INTO roles (name, description, created_at, updated_at) VALUES ($1, $2, $3, $4)";
pub(crate) const ROLE: &str = "SELECT name, description, created_at, updated_at FROM roles WHERE name = $1";
pub(crate) const LIST_ROLES: &str = "SELECT name, description, created_at, updated_at FROM roles ORDER BY name";
pub(crate) const SET_ROLE_DESCRIPTION: &str = "UPDATE roles SET description = $2, updated_at = $3 WHERE name = $1";
pub(crate) const DELETE_ROLE: &str = "DELETE FROM roles WHERE name = $1";
pub(crate) const INSERT_PERMISSION: &str =
    "INSERT INTO permissions (name, description, created_at, updated_at) VALUES ($1, $2, $3, $4)";
pub(crate) const PERMISSION: &str = "SELECT name, description, created_at, updated_at FROM permissions WHERE name = $1";
pub(crate) const LIST_PERMISSIONS: &str =
    "SELECT name, description, created_at, updated_at FROM permissions ORDER BY name";
pub(crate) const SET_PERMISSION_DESCRIPTION: &str =
    "UPDATE permissions SET description = $2, updated_at = $3 WHERE name = $1";
pub(crate) const DELETE_PERMISSION: &str = "DELETE FROM permissions WHERE name = $1";
pub(crate) const GRANT_PERMISSION: &str = "INSERT INTO role_permissions (role_name, permission_name, granted_at) \
     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
pub(crate) const REVOKE_PERMISSION: &str = "DELETE FROM role_permissions WHERE role_name = $1 AND permission_name = $2";
pub(crate) const ROLE_PERMISSIONS: &str =
    "SELECT permission_name FROM role_permissions WHERE role_name = $1 ORDER BY permission_name";
pub(crate) const GRANT_USER_ROLE: &str =
    "INSERT INTO user_roles (user_id, role_name, granted_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
pub(crate) const REVOKE_USER_ROLE: &str = "DELETE FROM user_roles WHERE user_id = $1 AND role_name = $2";
pub(crate) const USER_ROLES: &str = "SELECT role_name FROM user_roles WHERE user_id = $1 ORDER BY role_name";
pub(crate) const USER_PERMISSIONS: &str = "SELECT DISTINCT rp.permission_name FROM user_roles ur \
     JOIN role_permissions rp ON rp.role_name = ur.role_name WHERE ur.user_id = $1 ORDER BY rp.permission_name";
/// A user's roles with their permissions (NULL for a role without any), for `Access::from_rows`.
pub(crate) const USER_ACCESS: &str = "SELECT ur.role_name, rp.permission_name FROM user_roles ur \
     LEFT JOIN role_permissions rp ON rp.role_name = ur.role_name WHERE ur.user_id = $1 \
     ORDER BY ur.role_name, rp.permission_name";
pub(crate) const ROLE_MEMBERS: &str = "SELECT user_id FROM user_roles WHERE role_name = $1 ORDER BY user_id";
pub(crate) const GRANT_CLIENT_ROLE: &str =
    "INSERT INTO client_roles (client_id, role_name, granted_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
pub(crate) const REVOKE_CLIENT_ROLE: &str = "DELETE FROM client_roles WHERE client_id = $1 AND role_name = $2";
pub(crate) const CLIENT_ROLES: &str = "SELECT role_name FROM client_roles WHERE client_id = $1 ORDER BY role_name";
pub(crate) const ROLE_CLIENTS: &str = "SELECT client_id FROM client_roles WHERE role_name = $1 ORDER BY client_id";
/// A client's roles with their permissions (NULL for a role without any).
pub(crate) const CLIENT_ACCESS: &str = "SELECT cr.role_name, rp.permission_name FROM client_roles cr \
     LEFT JOIN role_permissions rp ON rp.role_name = cr.role_name WHERE cr.client_id = $1 \
     ORDER BY cr.role_name, rp.permission_name";
/// The RBAC revision (migration 0024: moved by triggers on every RBAC table).
pub(crate) const RBAC_REVISION: &str = "SELECT revision FROM rbac_revision WHERE id = 1";
/// Every grant, for the decisions' in-memory copy (`RbacStore::rbac_grants`).
pub(crate) const ALL_USER_ROLES: &str = "SELECT user_id, role_name FROM user_roles ORDER BY user_id, role_name";
pub(crate) const ALL_CLIENT_ROLES: &str = "SELECT client_id, role_name FROM client_roles ORDER BY client_id, role_name";
pub(crate) const ALL_ROLE_PERMISSIONS: &str =
    "SELECT role_name, permission_name FROM role_permissions ORDER BY role_name, permission_name";
/// A user's status, whether they hold role `$2`, and whether they hold the admin role `$3`.
pub(crate) const USER_GUARD_STATE: &str = "SELECT u.status, \
     EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role_name = $2) AS has_role, \
     EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role_name = $3) AS is_admin \
     FROM users u WHERE u.id = $1";
/// PostgreSQL only: serialises guarded changes on the admin role's row. `NO KEY UPDATE` does
/// not block grants (their foreign-key check takes `KEY SHARE`).
pub(crate) const LOCK_ADMIN_ROLE: &str = "SELECT name FROM roles WHERE name = $1 FOR NO KEY UPDATE";
/// Active holders of the admin role `$2` other than user `$1`.
pub(crate) const OTHER_ACTIVE_ADMINS: &str = "SELECT COUNT(*) FROM user_roles r JOIN users u ON u.id = r.user_id \
     WHERE r.role_name = $2 AND u.status = 'active' AND u.id <> $1";

// Health.

pub(crate) const PING: &str = "SELECT 1";

// Federation (upstream identities and logins in progress).

macro_rules! identity_columns {
    () => {
        "provider, subject, user_id, email, created_at, last_login_at"
    };
}

macro_rules! login_state_columns {
    () => {
        "state_hash, binding_hash, provider, return_to, link_user, force_login, pending_subject, pending_user, \
         pending_email, created_at, expires_at"
    };
}

pub(crate) const INSERT_LOGIN_STATE: &str = concat!(
    "INSERT INTO federation_states (",
    login_state_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
);
/// Single use: the row is deleted by the statement that reads it, so of concurrent callbacks
/// with one `state` exactly one gets it.
pub(crate) const TAKE_LOGIN_STATE: &str =
    concat!("DELETE FROM federation_states WHERE state_hash = $1 RETURNING ", login_state_columns!());
pub(crate) const PURGE_LOGIN_STATES: &str = "DELETE FROM federation_states WHERE expires_at <= $1";
pub(crate) const INSERT_IDENTITY: &str =
    concat!("INSERT INTO federated_identities (", identity_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6)");
pub(crate) const IDENTITY: &str =
    concat!("SELECT ", identity_columns!(), " FROM federated_identities WHERE provider = $1 AND subject = $2");
pub(crate) const IDENTITIES_FOR_USER: &str = concat!(
    "SELECT ",
    identity_columns!(),
    " FROM federated_identities WHERE user_id = $1 ORDER BY created_at, provider"
);
pub(crate) const TOUCH_IDENTITY: &str =
    "UPDATE federated_identities SET email = $3, last_login_at = $4 WHERE provider = $1 AND subject = $2";
/// Deletes the link only while the account keeps another way to sign in (a password or a
/// second link), decided inside the one statement.
pub(crate) const UNLINK_IDENTITY: &str = "DELETE FROM federated_identities \
     WHERE user_id = $1 AND provider = $2 AND ( \
       EXISTS (SELECT 1 FROM users WHERE id = $1 AND password_hash IS NOT NULL) \
       OR EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1 AND discoverable) \
       OR (SELECT count(*) FROM federated_identities WHERE user_id = $1) > 1)";
/// PostgreSQL only: makes unlinks of one user's identities take turns (SQLite's single writer
/// already does).
pub(crate) const LOCK_USER: &str = "SELECT id FROM users WHERE id = $1 FOR UPDATE";
pub(crate) const HAS_IDENTITY: &str = "SELECT count(*) FROM federated_identities WHERE user_id = $1 AND provider = $2";

// Account tokens (verification, change of address, password reset).

macro_rules! account_token_columns {
    () => {
        "token_hash, user_id, purpose, email, email_key, created_at, expires_at"
    };
}

pub(crate) const INSERT_ACCOUNT_TOKEN: &str =
    concat!("INSERT INTO account_tokens (", account_token_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7)");
pub(crate) const DELETE_ACCOUNT_TOKENS: &str = "DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2";
pub(crate) const ACCOUNT_TOKEN: &str = concat!(
    "SELECT ",
    account_token_columns!(),
    " FROM account_tokens WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3"
);
/// The delete is the redemption: of concurrent callers exactly one deletes the row.
pub(crate) const TAKE_ACCOUNT_TOKEN: &str = concat!(
    "DELETE FROM account_tokens WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3 RETURNING ",
    account_token_columns!()
);
pub(crate) const PURGE_ACCOUNT_TOKENS: &str = "DELETE FROM account_tokens WHERE expires_at <= $1";
/// Verifies the address only if it is still the account's (a change may have come between).
pub(crate) const MARK_EMAIL_VERIFIED: &str =
    "UPDATE users SET email_verified = true, updated_at = $3 WHERE id = $1 AND email_key = $2";
pub(crate) const SET_VERIFIED_EMAIL: &str =
    "UPDATE users SET email = $2, email_key = $3, email_verified = true, updated_at = $4 WHERE id = $1";

// --- mail queue ---

macro_rules! mail_columns {
    () => {
        "id, kind, sealed_body, attempts, next_attempt_at, created_at, locked_until"
    };
}

pub(crate) const INSERT_MAIL: &str = "INSERT INTO mail_queue \
     (id, kind, sealed_body, status, attempts, next_attempt_at, locked_until, created_at) \
     VALUES ($1, $2, $3, 'pending', $4, $5, NULL, $6)";
/// One statement picks the oldest due row of a queue table (`status = 'pending'`,
/// `next_attempt_at`, `locked_until`) and leases it; the mail queue and the back-channel
/// logout queue share it. The conditions are repeated outside the sub-select: under
/// PostgreSQL's READ COMMITTED a second claim that waited for the first one's row lock
/// re-checks them on the updated row, finds the lease, and claims nothing. On SQLite the single
/// writer serialises claims.
macro_rules! claim_due {
    ($table:literal, $key:literal, $columns:ident, $lock:literal) => {
        concat!(
            "UPDATE ",
            $table,
            " SET locked_until = $2 \
             WHERE ",
            $key,
            " = (SELECT ",
            $key,
            " FROM ",
            $table,
            " \
                         WHERE status = 'pending' AND next_attempt_at <= $1 \
                           AND (locked_until IS NULL OR locked_until <= $1) \
                         ORDER BY next_attempt_at, ",
            $key,
            " LIMIT 1",
            $lock,
            ") AND status = 'pending' AND next_attempt_at <= $1 \
               AND (locked_until IS NULL OR locked_until <= $1) \
             RETURNING ",
            $columns!()
        )
    };
}
pub(crate) use claim_due;
macro_rules! claim_due_mail {
    ($lock:literal) => {
        claim_due!("mail_queue", "id", mail_columns, $lock)
    };
}
/// SQLite: its single writer already serialises claims.
pub(crate) const CLAIM_DUE_MAIL: &str = claim_due_mail!("");
/// PostgreSQL: a node skips the rows another node is claiming instead of queueing behind
/// them (and then finding nothing, and sleeping a poll interval while mail is due).
pub(crate) const CLAIM_DUE_MAIL_SKIP_LOCKED: &str = claim_due_mail!(" FOR UPDATE SKIP LOCKED");
/// The writes after a claim name its lease: a worker whose lease ran out changes nothing.
pub(crate) const DELETE_MAIL: &str = "DELETE FROM mail_queue WHERE id = $1 AND locked_until = $2";
pub(crate) const RETRY_MAIL: &str = "UPDATE mail_queue \
     SET attempts = $3, next_attempt_at = $4, last_error = $5, locked_until = NULL \
     WHERE id = $1 AND locked_until = $2 AND status = 'pending'";
pub(crate) const FAIL_MAIL: &str = "UPDATE mail_queue \
     SET status = 'failed', sealed_body = NULL, attempts = $3, last_error = $4, failed_at = $5, locked_until = NULL \
     WHERE id = $1 AND locked_until = $2 AND status = 'pending'";
pub(crate) const MAIL_QUEUE_COUNTS: &str = "SELECT \
     (SELECT count(*) FROM mail_queue WHERE status = 'pending'), \
     (SELECT count(*) FROM mail_queue WHERE status = 'failed')";
pub(crate) const MAIL_STATUS: &str =
    "SELECT kind, status, attempts, next_attempt_at, last_error FROM mail_queue WHERE id = $1";
pub(crate) const PURGE_FAILED_MAIL: &str = "DELETE FROM mail_queue WHERE status = 'failed' AND failed_at < $1";

// Invitations.

macro_rules! invitation_columns {
    () => {
        "id, token_hash, email, email_key, roles, invited_by, created_at, expires_at, accepted_at, \
         accepted_user_id, revoked_at"
    };
}

pub(crate) const INSERT_INVITATION: &str = concat!(
    "INSERT INTO invitations (",
    invitation_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, NULL)"
);
/// Revokes every open invitation of an address (run before a newer one is inserted).
pub(crate) const REVOKE_OPEN_INVITATIONS: &str = "UPDATE invitations SET revoked_at = $2 \
     WHERE email_key = $1 AND accepted_at IS NULL AND revoked_at IS NULL RETURNING id";
pub(crate) const INVITATION: &str = concat!("SELECT ", invitation_columns!(), " FROM invitations WHERE id = $1");
pub(crate) const INVITATION_BY_TOKEN: &str =
    concat!("SELECT ", invitation_columns!(), " FROM invitations WHERE token_hash = $1");
pub(crate) const PENDING_INVITATION: &str = concat!(
    "SELECT ",
    invitation_columns!(),
    " FROM invitations WHERE email_key = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
     ORDER BY id DESC LIMIT 1"
);
pub(crate) const LIST_INVITATIONS_FIRST: &str =
    concat!("SELECT ", invitation_columns!(), " FROM invitations ORDER BY id LIMIT $1");
pub(crate) const LIST_INVITATIONS_AFTER: &str =
    concat!("SELECT ", invitation_columns!(), " FROM invitations WHERE id > $1 ORDER BY id LIMIT $2");
pub(crate) const REVOKE_INVITATION: &str =
    "UPDATE invitations SET revoked_at = $2 WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL";
/// Single use: of concurrent acceptances, the first to update the row wins; the others find it
/// accepted (PostgreSQL re-checks the condition after the winner commits; SQLite's writers
/// take turns).
pub(crate) const ACCEPT_INVITATION: &str = concat!(
    "UPDATE invitations SET accepted_at = $2 \
     WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 RETURNING ",
    invitation_columns!()
);
/// Records the account an accepted invitation created (once that account's row exists).
pub(crate) const SET_INVITATION_USER: &str = "UPDATE invitations SET accepted_user_id = $2 WHERE id = $1";
/// Grants a role of an accepted invitation if it still exists (a role deleted since is skipped).
pub(crate) const GRANT_INVITED_ROLE: &str =
    "INSERT INTO user_roles (user_id, role_name, granted_at) SELECT $1, name, $3 FROM roles WHERE name = $2";

// --- MFA: TOTP factors, recovery codes, pending second-factor steps ---

pub(crate) const TOTP_FACTOR: &str =
    "SELECT user_id, secret_sealed, created_at, confirmed_at, last_used_step FROM mfa_totp WHERE user_id = $1";
/// Replaces an unfinished enrolment; a confirmed factor is left alone (no row changes).
pub(crate) const BEGIN_TOTP: &str = "INSERT INTO mfa_totp (user_id, secret_sealed, created_at) VALUES ($1, $2, $3) \
     ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, created_at = excluded.created_at \
     WHERE mfa_totp.confirmed_at IS NULL";
pub(crate) const CONFIRM_TOTP: &str =
    "UPDATE mfa_totp SET confirmed_at = $3, last_used_step = $2 WHERE user_id = $1 AND confirmed_at IS NULL";
/// The replay check and the record of use in one statement: of concurrent uses of one step,
/// the first to update the row wins and the others find the step used.
pub(crate) const USE_TOTP_STEP: &str = "UPDATE mfa_totp SET last_used_step = $2 \
     WHERE user_id = $1 AND confirmed_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < $2)";
pub(crate) const DELETE_TOTP: &str = "DELETE FROM mfa_totp WHERE user_id = $1";
pub(crate) const RECOVERY_CODE_HASHES: &str =
    "SELECT code_hash FROM mfa_recovery_codes WHERE user_id = $1 ORDER BY code_hash";
pub(crate) const INSERT_RECOVERY_CODE: &str =
    "INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)";
pub(crate) const USE_RECOVERY_CODE: &str = "DELETE FROM mfa_recovery_codes WHERE user_id = $1 AND code_hash = $2";
pub(crate) const DELETE_RECOVERY_CODES: &str = "DELETE FROM mfa_recovery_codes WHERE user_id = $1";
macro_rules! mfa_challenge_columns {
    () => {
        "handle_hash, user_id, channel, next, amr, auth_time, created_at, expires_at"
    };
}
pub(crate) const INSERT_MFA_CHALLENGE: &str =
    concat!("INSERT INTO mfa_challenges (", mfa_challenge_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
pub(crate) const MFA_CHALLENGE: &str =
    concat!("SELECT ", mfa_challenge_columns!(), " FROM mfa_challenges WHERE handle_hash = $1 AND expires_at > $2");
/// The delete is the use: of concurrent callers exactly one deletes the row.
pub(crate) const TAKE_MFA_CHALLENGE: &str = "DELETE FROM mfa_challenges WHERE handle_hash = $1 AND expires_at > $2";
pub(crate) const DELETE_MFA_CHALLENGES_FOR_USER: &str = "DELETE FROM mfa_challenges WHERE user_id = $1";
pub(crate) const PURGE_MFA_CHALLENGES: &str = "DELETE FROM mfa_challenges WHERE expires_at <= $1";

// Passkeys (WebAuthn) and ceremonies in progress.

macro_rules! passkey_columns {
    () => {
        "id, user_id, credential_id, name, credential, discoverable, sign_count, created_at, last_used_at"
    };
}
pub(crate) const PASSKEYS: &str =
    concat!("SELECT ", passkey_columns!(), " FROM passkeys WHERE user_id = $1 ORDER BY created_at, id");
pub(crate) const PASSKEY_BY_CREDENTIAL_ID: &str =
    concat!("SELECT ", passkey_columns!(), " FROM passkeys WHERE credential_id = $1");
pub(crate) const INSERT_PASSKEY: &str =
    concat!("INSERT INTO passkeys (", passkey_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
/// A use raises the stored counter, or both are 0 (an authenticator that keeps none).
pub(crate) const RECORD_PASSKEY_USE: &str = "UPDATE passkeys SET credential = $2, sign_count = $3, last_used_at = $4 \
     WHERE id = $1 AND (sign_count < $3 OR (sign_count = 0 AND $3 = 0))";
pub(crate) const HAS_RECOVERY_CODES: &str = "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1";
/// Deletes a passkey unless it is the account's last way to sign in: no password, no upstream
/// identity, and no other discoverable passkey (only those sign in without a password). A
/// passkey that is not discoverable signs nobody in alone, so it may always go.
pub(crate) const DELETE_PASSKEY_GUARDED: &str = "DELETE FROM passkeys \
     WHERE user_id = $1 AND id = $2 AND ( \
       NOT discoverable \
       OR EXISTS (SELECT 1 FROM users WHERE id = $1 AND password_hash IS NOT NULL) \
       OR EXISTS (SELECT 1 FROM federated_identities WHERE user_id = $1) \
       OR EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1 AND discoverable AND id <> $2)) \
     RETURNING name";
pub(crate) const DELETE_PASSKEY_CEREMONIES_FOR_USER: &str = "DELETE FROM passkey_ceremonies WHERE user_id = $1";
pub(crate) const HAS_PASSKEY: &str = "SELECT count(*) FROM passkeys WHERE user_id = $1 AND id = $2";
pub(crate) const DELETE_PASSKEYS: &str = "DELETE FROM passkeys WHERE user_id = $1";
macro_rules! ceremony_columns {
    () => {
        "handle_hash, purpose, user_id, binding, state, created_at, expires_at"
    };
}
pub(crate) const INSERT_CEREMONY: &str =
    concat!("INSERT INTO passkey_ceremonies (", ceremony_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7)");
pub(crate) const TAKE_CEREMONY: &str = concat!(
    "DELETE FROM passkey_ceremonies WHERE handle_hash = $1 AND purpose = $2 AND expires_at > $3 RETURNING ",
    ceremony_columns!()
);
pub(crate) const PURGE_CEREMONIES: &str = "DELETE FROM passkey_ceremonies WHERE expires_at <= $1";

// Resource servers (RFC 8707) and the resources of grants.

macro_rules! resource_server_columns {
    () => {
        "id, identifier, name, scopes, access_token_lifetime, signing_alg, allow_permissions, created_at, \
         updated_at, revision"
    };
}

pub(crate) const INSERT_RESOURCE_SERVER: &str = concat!(
    "INSERT INTO resource_servers (",
    resource_server_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
);
pub(crate) const RESOURCE_SERVER_BY_ID: &str =
    concat!("SELECT ", resource_server_columns!(), " FROM resource_servers WHERE id = $1");
pub(crate) const RESOURCE_SERVER_BY_IDENTIFIER: &str =
    concat!("SELECT ", resource_server_columns!(), " FROM resource_servers WHERE identifier = $1");
/// Identifiers sort in byte order on both backends (SQLite BINARY, PostgreSQL `COLLATE "C"`).
pub(crate) const LIST_RESOURCE_SERVERS: &str =
    concat!("SELECT ", resource_server_columns!(), " FROM resource_servers ORDER BY identifier");
/// Compare-and-set on the revision (`$7`): a change made from an older read updates nothing.
pub(crate) const UPDATE_RESOURCE_SERVER: &str = "UPDATE resource_servers SET name = $2, scopes = $3, access_token_lifetime = $4, \
     signing_alg = $5, allow_permissions = $6, updated_at = $8, revision = revision + 1 \
     WHERE id = $1 AND revision = $7";
pub(crate) const DELETE_RESOURCE_SERVER: &str = "DELETE FROM resource_servers WHERE id = $1";
/// A grant's resources are written once, when its code or approval is made.
pub(crate) const SET_GRANT_RESOURCES: &str =
    "INSERT INTO grant_resources (grant_id, resources, created_at) VALUES ($1, $2, $3)";
pub(crate) const GRANT_RESOURCES: &str = "SELECT resources FROM grant_resources WHERE grant_id = $1";
pub(crate) const PURGE_GRANT_RESOURCES: &str = "DELETE FROM grant_resources WHERE created_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = grant_resources.grant_id)";
// Token exchange rules (RFC 8693).

pub(crate) const INSERT_EXCHANGE_RULE: &str = "INSERT INTO token_exchange_rules \
     (id, client_id, subject_clients, audiences, scopes, allow_impersonation, allow_delegation, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub(crate) const EXCHANGE_RULES: &str = "SELECT id, client_id, subject_clients, audiences, scopes, \
     allow_impersonation, allow_delegation, created_at FROM token_exchange_rules \
     WHERE client_id = $1 ORDER BY created_at, id";
pub(crate) const DELETE_EXCHANGE_RULE: &str = "DELETE FROM token_exchange_rules WHERE client_id = $1 AND id = $2";
