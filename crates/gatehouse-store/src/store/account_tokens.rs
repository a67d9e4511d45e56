//! `AccountTokenStore`: the single-use links of verification, change-of-address and reset
//! mails, stored by SHA-256 only. A redemption is one write transaction whose first statement
//! deletes the token (so of concurrent redemptions exactly one gets it, as with authorization
//! codes) and whose next statements apply the token's effect; an effect that fails (an
//! address taken meanwhile) rolls the whole transaction back and the token stays.

use async_trait::async_trait;
use gatehouse_core::account::tokens::{AccountToken, AccountTokenStore, TokenEffect, TokenPurpose};
use gatehouse_core::clock::UnixTime;
use gatehouse_core::store::StoreError;
use gatehouse_core::user::UserId;

use super::SqlStore;
use crate::dialect::Dialect;
use crate::error::OnUnique;
use crate::rows::AccountTokenRow;
use crate::sql;

#[async_trait]
impl<D: Dialect> AccountTokenStore for SqlStore<D> {
    async fn issue_account_token(&self, token: &AccountToken) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        // PostgreSQL: issues for one user take turns, so that only the newest link survives
        // (SQLite's single writer already serialises them).
        tx.lock(D::LOCK_USER, token.user_id.0).await?;
        tx.query(sql::DELETE_ACCOUNT_TOKENS).bind(token.user_id.0).bind(token.purpose.as_str()).execute().await?;
        tx.query(sql::INSERT_ACCOUNT_TOKEN)
            .bind(token.token_hash.as_slice())
            .bind(token.user_id.0)
            .bind(token.purpose.as_str())
            .bind(token.email.as_str())
            .bind(token.email.key())
            .bind(token.created_at)
            .bind(token.expires_at)
            .on_unique(OnUnique::Code)
            .execute()
            .await?;
        tx.commit().await
    }

    async fn account_token(
        &self,
        token_hash: &[u8],
        purpose: TokenPurpose,
        now: UnixTime,
    ) -> Result<Option<AccountToken>, StoreError> {
        let row: Option<AccountTokenRow> =
            self.query(sql::ACCOUNT_TOKEN).bind(token_hash).bind(purpose.as_str()).bind(now).fetch_optional().await?;
        row.map(AccountToken::try_from).transpose()
    }

    async fn redeem_account_token(
        &self,
        token_hash: &[u8],
        purpose: TokenPurpose,
        effect: TokenEffect<'_>,
        now: UnixTime,
    ) -> Result<Option<AccountToken>, StoreError> {
        let mut tx = self.begin_write().await?;
        let row: Option<AccountTokenRow> = tx
            .query(sql::TAKE_ACCOUNT_TOKEN)
            .bind(token_hash)
            .bind(purpose.as_str())
            .bind(now)
            .fetch_optional()
            .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let token = AccountToken::try_from(row)?;
        let user = token.user_id.0;
        match effect {
            TokenEffect::VerifyEmail => {
                tx.query(sql::MARK_EMAIL_VERIFIED).bind(user).bind(token.email.key()).bind(now).execute().await?;
            }
            TokenEffect::ChangeEmail => {
                tx.query(sql::SET_VERIFIED_EMAIL)
                    .bind(user)
                    .bind(token.email.as_str())
                    .bind(token.email.key())
                    .bind(now)
                    .on_unique(OnUnique::User)
                    .execute()
                    .await?;
            }
            TokenEffect::SetPassword { hash } => {
                tx.query(sql::SET_PASSWORD_HASH).bind(user).bind(hash).bind(now).execute().await?;
                tx.query(sql::DELETE_SESSIONS_FOR_USER).bind(user).execute().await?;
                let revoke = tx.query(sql::REVOKE_REFRESH_FAMILIES_FOR_USER).bind(user).bind(now);
                revoke.bind("password_reset").execute().await?;
                // Every other reset link, and any pending change of address: whoever asked for
                // one may be the intruder the new password is meant to lock out.
                for purpose in [TokenPurpose::ResetPassword, TokenPurpose::ChangeEmail] {
                    tx.query(sql::DELETE_ACCOUNT_TOKENS).bind(user).bind(purpose.as_str()).execute().await?;
                }
            }
        }
        tx.commit().await?;
        Ok(Some(token))
    }

    async fn delete_account_tokens(&self, user: UserId, purpose: TokenPurpose) -> Result<u64, StoreError> {
        self.query(sql::DELETE_ACCOUNT_TOKENS).bind(user.0).bind(purpose.as_str()).execute().await
    }

    async fn purge_account_tokens(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.query(sql::PURGE_ACCOUNT_TOKENS).bind(now).execute().await
    }
}
