//! `FederationStore`: links to upstream identities and logins in progress.
//!
//! Creating an account with its first link is one transaction: both rows or neither. A login
//! state is taken with `DELETE … RETURNING`, so it is used at most once.

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::federation::{FederatedIdentity, FederationStore, LoginState, UnlinkOutcome};
use gatehouse_core::store::StoreError;
use gatehouse_core::user::{User, UserId};

use super::SqlStore;
use super::users::insert_user;
use crate::dialect::{Dialect, Stmt};
use crate::error::OnUnique;
use crate::rows::{IdentityRow, LoginStateRow};
use crate::sql;

#[async_trait]
impl<D: Dialect> FederationStore for SqlStore<D> {
    async fn insert_login_state(&self, state: &LoginState) -> Result<(), StoreError> {
        self.query(sql::INSERT_LOGIN_STATE)
            .bind(state.state_hash.as_slice())
            .bind(state.binding_hash.as_slice())
            .bind(state.provider.as_str())
            .bind(state.return_to.as_deref())
            .bind(state.link_user.map(|u| u.0))
            .bind(state.force_login)
            .bind(state.pending.as_ref().map(|p| p.subject.as_str()))
            .bind(state.pending.as_ref().map(|p| p.user_id.0))
            .bind(state.pending.as_ref().and_then(|p| p.email.as_deref()))
            .bind(state.created_at)
            .bind(state.expires_at)
            .execute()
            .await?;
        Ok(())
    }

    async fn take_login_state(&self, state_hash: &[u8]) -> Result<Option<LoginState>, StoreError> {
        let row: Option<LoginStateRow> = self.query(sql::TAKE_LOGIN_STATE).bind(state_hash).fetch_optional().await?;
        Ok(row.map(LoginState::from))
    }

    async fn purge_login_states(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.query(sql::PURGE_LOGIN_STATES).bind(now).execute().await
    }

    async fn identity(&self, provider: &str, subject: &str) -> Result<Option<FederatedIdentity>, StoreError> {
        let row: Option<IdentityRow> = self.query(sql::IDENTITY).bind(provider).bind(subject).fetch_optional().await?;
        Ok(row.map(FederatedIdentity::from))
    }

    async fn identities_for_user(&self, user: UserId) -> Result<Vec<FederatedIdentity>, StoreError> {
        let rows: Vec<IdentityRow> = self.query(sql::IDENTITIES_FOR_USER).bind(user.0).fetch_all().await?;
        Ok(rows.into_iter().map(FederatedIdentity::from).collect())
    }

    async fn link_identity(&self, identity: &FederatedIdentity) -> Result<(), StoreError> {
        insert_identity(self.query(sql::INSERT_IDENTITY), identity).execute().await?;
        Ok(())
    }

    async fn create_user_with_identity(&self, user: &User, identity: &FederatedIdentity) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_user(tx.query(sql::INSERT_USER), user).execute().await?;
        insert_identity(tx.query(sql::INSERT_IDENTITY), identity).execute().await?;
        tx.commit().await
    }

    async fn touch_identity(
        &self,
        provider: &str,
        subject: &str,
        email: Option<&str>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.query(sql::TOUCH_IDENTITY).bind(provider).bind(subject).bind(email).bind(now).execute().await?;
        Ok(())
    }

    async fn unlink_identity(&self, user: UserId, provider: &str) -> Result<UnlinkOutcome, StoreError> {
        // One write transaction: on SQLite the single writer serialises unlinks already. Under
        // PostgreSQL's READ COMMITTED two unlinks of different providers would each still see
        // the other link and both delete, leaving no way to sign in: the user row's lock
        // serialises them (the second statement runs after the first commits, with a fresh
        // snapshot).
        let mut tx = self.begin_write().await?;
        tx.lock(D::LOCK_USER, user.0).await?;
        let outcome = if tx.query(sql::UNLINK_IDENTITY).bind(user.0).bind(provider).execute().await? > 0 {
            UnlinkOutcome::Unlinked
        } else {
            let (left,): (i64,) = tx.query(sql::HAS_IDENTITY).bind(user.0).bind(provider).fetch_one().await?;
            if left > 0 { UnlinkOutcome::LastMethod } else { UnlinkOutcome::NotFound }
        };
        tx.commit().await?;
        Ok(outcome)
    }
}

pub(super) fn insert_identity<'a, D: Dialect>(query: Stmt<'a, D>, identity: &FederatedIdentity) -> Stmt<'a, D> {
    query
        .bind(identity.provider.as_str())
        .bind(identity.subject.as_str())
        .bind(identity.user_id.0)
        .bind(identity.email.as_deref())
        .bind(identity.created_at)
        .bind(identity.last_login_at)
        .on_unique(OnUnique::Federation)
}
