//! `SealedStore`: the values sealed with the master key, read in id order and replaced by
//! compare-and-set, for `gatehouse keys rewrap` (see `gatehouse_core::keys::rewrap`). Each
//! replace is one autocommit `UPDATE … WHERE id = $1 AND sealed = $2`: it holds a row lock for
//! one statement and never overwrites a value a node wrote since it was read.

use async_trait::async_trait;
use gatehouse_core::keys::{SealedKind, SealedStore, SealedValue};
use gatehouse_core::store::StoreError;
use uuid::Uuid;

use super::SqlStore;
use crate::dialect::Dialect;

const SIGNING_KEYS: &str = "SELECT kid, sealed_private_key FROM signing_keys WHERE kid > $1 ORDER BY kid LIMIT $2";
const TOTP: &str = "SELECT user_id, secret_sealed FROM mfa_totp WHERE user_id > $1 ORDER BY user_id LIMIT $2";
const MAIL: &str = "SELECT id, sealed_body FROM mail_queue \
     WHERE id > $1 AND sealed_body IS NOT NULL ORDER BY id LIMIT $2";
const REPLACE_SIGNING_KEY: &str =
    "UPDATE signing_keys SET sealed_private_key = $3 WHERE kid = $1 AND sealed_private_key = $2";
const REPLACE_TOTP: &str = "UPDATE mfa_totp SET secret_sealed = $3 WHERE user_id = $1 AND secret_sealed = $2";
const REPLACE_MAIL: &str = "UPDATE mail_queue SET sealed_body = $3 WHERE id = $1 AND sealed_body = $2";

#[derive(sqlx::FromRow)]
struct TextIdRow {
    kid: String,
    sealed_private_key: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct TotpRow {
    user_id: Uuid,
    secret_sealed: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct MailRow {
    id: Uuid,
    sealed_body: Vec<u8>,
}

/// A UUID row id from its text; the nil UUID (before every v4/v7 id) for "from the start".
fn uuid_after(after: Option<&str>) -> Result<Uuid, StoreError> {
    after.map_or(Ok(Uuid::nil()), uuid_of)
}

fn uuid_of(id: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(id).map_err(|_| StoreError::Corrupt("a sealed value's row id is not a UUID".to_owned()))
}

#[async_trait]
impl<D: Dialect> SealedStore for SqlStore<D> {
    async fn sealed_values(
        &self,
        kind: SealedKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SealedValue>, StoreError> {
        let limit = i64::from(limit);
        Ok(match kind {
            SealedKind::SigningKey => {
                let rows: Vec<TextIdRow> =
                    self.query(SIGNING_KEYS).bind(after.unwrap_or("")).bind(limit).fetch_all().await?;
                rows.into_iter().map(|r| SealedValue { id: r.kid, sealed: r.sealed_private_key }).collect()
            }
            SealedKind::Totp => {
                let rows: Vec<TotpRow> = self.query(TOTP).bind(uuid_after(after)?).bind(limit).fetch_all().await?;
                rows.into_iter().map(|r| SealedValue { id: r.user_id.to_string(), sealed: r.secret_sealed }).collect()
            }
            SealedKind::Mail => {
                let rows: Vec<MailRow> = self.query(MAIL).bind(uuid_after(after)?).bind(limit).fetch_all().await?;
                rows.into_iter().map(|r| SealedValue { id: r.id.to_string(), sealed: r.sealed_body }).collect()
            }
        })
    }

    async fn replace_sealed(&self, kind: SealedKind, id: &str, old: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let done = match kind {
            SealedKind::SigningKey => self.query(REPLACE_SIGNING_KEY).bind(id).bind(old).bind(new).execute().await?,
            SealedKind::Totp => self.query(REPLACE_TOTP).bind(uuid_of(id)?).bind(old).bind(new).execute().await?,
            SealedKind::Mail => self.query(REPLACE_MAIL).bind(uuid_of(id)?).bind(old).bind(new).execute().await?,
        };
        Ok(done > 0)
    }
}
