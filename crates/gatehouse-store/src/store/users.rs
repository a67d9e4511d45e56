//! `UserStore`: accounts, looked up by id or normalised email.

use async_trait::async_trait;
use gatehouse_core::account::tokens::TokenPurpose;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::store::{StoreError, UserStore};
use gatehouse_core::user::{User, UserId, UserStatus};
use uuid::Uuid;

use super::SqlStore;
use crate::dialect::{Dialect, Stmt};
use crate::error::OnUnique;
use crate::rows::{UserRow, like_pattern};
use crate::sql;

#[async_trait]
impl<D: Dialect> UserStore for SqlStore<D> {
    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        insert_user(self.query(sql::INSERT_USER), user).execute().await?;
        Ok(())
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = self.query(sql::USER_BY_ID).bind(id.0).fetch_optional().await?;
        row.map(User::try_from).transpose()
    }

    async fn user_by_email(&self, email_key: &str) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = self.query(sql::USER_BY_EMAIL_KEY).bind(email_key).fetch_optional().await?;
        row.map(User::try_from).transpose()
    }

    async fn list_users(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>, StoreError> {
        let query = match after {
            Some(after) => self.query(sql::LIST_USERS_AFTER).bind(after.0),
            None => self.query(sql::LIST_USERS_FIRST),
        };
        let rows: Vec<UserRow> = query.bind(i64::from(limit)).fetch_all().await?;
        rows.into_iter().map(User::try_from).collect()
    }

    async fn set_password_hash(&self, id: UserId, hash: &str, now: UnixTime) -> Result<bool, StoreError> {
        Ok(self.query(sql::SET_PASSWORD_HASH).bind(id.0).bind(hash).bind(now).execute().await? > 0)
    }

    async fn set_password_ending_sign_ins(
        &self,
        id: UserId,
        hash: &str,
        keep_session: Option<Uuid>,
        reason: &str,
        now: UnixTime,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        let mut tx = self.begin_write().await?;
        if tx.query(sql::SET_PASSWORD_HASH).bind(id.0).bind(hash).bind(now).execute().await? == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let sessions = match keep_session {
            Some(keep) => tx.query(sql::DELETE_OTHER_SESSIONS_FOR_USER).bind(id.0).bind(keep).execute().await?,
            None => tx.query(sql::DELETE_SESSIONS_FOR_USER).bind(id.0).execute().await?,
        };
        let families =
            tx.query(sql::REVOKE_REFRESH_FAMILIES_FOR_USER).bind(id.0).bind(now).bind(reason).execute().await?;
        for purpose in [TokenPurpose::ResetPassword, TokenPurpose::ChangeEmail] {
            tx.query(sql::DELETE_ACCOUNT_TOKENS).bind(id.0).bind(purpose.as_str()).execute().await?;
        }
        tx.commit().await?;
        Ok(Some((sessions, families)))
    }

    async fn set_user_status(&self, id: UserId, status: UserStatus, now: UnixTime) -> Result<bool, StoreError> {
        Ok(self.query(sql::SET_USER_STATUS).bind(id.0).bind(status.as_str()).bind(now).execute().await? > 0)
    }

    async fn search_users(
        &self,
        after: Option<UserId>,
        limit: u32,
        email_contains: Option<&str>,
    ) -> Result<Vec<User>, StoreError> {
        let pattern = like_pattern(email_contains);
        let query = match after {
            Some(after) => self.query(sql::SEARCH_USERS_AFTER).bind(pattern).bind(i64::from(limit)).bind(after.0),
            None => self.query(sql::SEARCH_USERS_FIRST).bind(pattern).bind(i64::from(limit)),
        };
        let rows: Vec<UserRow> = query.fetch_all().await?;
        rows.into_iter().map(User::try_from).collect()
    }

    async fn set_display_name(
        &self,
        id: UserId,
        display_name: Option<&str>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        Ok(self.query(sql::SET_DISPLAY_NAME).bind(id.0).bind(display_name).bind(now).execute().await? > 0)
    }
}

/// `sql::INSERT_USER` with `user`'s values; also run by `federation` inside its transaction.
pub(super) fn insert_user<'a, D: Dialect>(query: Stmt<'a, D>, user: &User) -> Stmt<'a, D> {
    query
        .bind(user.id.0)
        .bind(user.email.as_str())
        .bind(user.email.key())
        .bind(user.display_name.as_deref())
        .bind(user.password_hash.as_deref())
        .bind(user.status.as_str())
        .bind(user.email_verified)
        .bind(user.created_at)
        .bind(user.updated_at)
        .on_unique(OnUnique::User)
}
