//! `InvitationStore`: invitations, by token hash only. A newer invitation revokes the older
//! open ones of its address in the same transaction; accepting marks the invitation used,
//! creates the user (with its upstream link, for a federated sign-in) and grants the roles in
//! one write transaction, so there is never a user without its roles or an invitation used
//! twice.

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::federation::FederatedIdentity;
use gatehouse_core::invitation::{AcceptOutcome, Invitation, InvitationStore};
use gatehouse_core::rbac::RoleName;
use gatehouse_core::store::StoreError;
use gatehouse_core::user::User;
use sqlx::types::Json;
use uuid::Uuid;

use super::SqlStore;
use super::federation::insert_identity;
use super::users::insert_user;
use crate::dialect::Dialect;
use crate::error::OnUnique;
use crate::rows::InvitationRow;
use crate::sql;

#[async_trait]
impl<D: Dialect> InvitationStore for SqlStore<D> {
    async fn create_invitation(&self, invitation: &Invitation, now: UnixTime) -> Result<Vec<Uuid>, StoreError> {
        let roles: Vec<&str> = invitation.roles.iter().map(RoleName::as_str).collect();
        let mut tx = self.begin_write().await?;
        let replaced: Vec<(Uuid,)> =
            tx.query(sql::REVOKE_OPEN_INVITATIONS).bind(invitation.email.key()).bind(now).fetch_all().await?;
        tx.query(sql::INSERT_INVITATION)
            .bind(invitation.id)
            .bind(invitation.token_hash.as_slice())
            .bind(invitation.email.as_str())
            .bind(invitation.email.key())
            .bind(Json(roles))
            .bind(invitation.invited_by.as_str())
            .bind(invitation.created_at)
            .bind(invitation.expires_at)
            .on_unique(OnUnique::Invitation)
            .execute()
            .await?;
        tx.commit().await?;
        Ok(replaced.into_iter().map(|(id,)| id).collect())
    }

    async fn invitation(&self, id: Uuid) -> Result<Option<Invitation>, StoreError> {
        let row: Option<InvitationRow> = self.query(sql::INVITATION).bind(id).fetch_optional().await?;
        row.map(Invitation::try_from).transpose()
    }

    async fn invitation_by_token(&self, token_hash: &[u8]) -> Result<Option<Invitation>, StoreError> {
        let row: Option<InvitationRow> = self.query(sql::INVITATION_BY_TOKEN).bind(token_hash).fetch_optional().await?;
        row.map(Invitation::try_from).transpose()
    }

    async fn pending_invitation(&self, email_key: &str, now: UnixTime) -> Result<Option<Invitation>, StoreError> {
        let row: Option<InvitationRow> =
            self.query(sql::PENDING_INVITATION).bind(email_key).bind(now).fetch_optional().await?;
        row.map(Invitation::try_from).transpose()
    }

    async fn list_invitations(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<Invitation>, StoreError> {
        let limit = i64::from(limit);
        let rows: Vec<InvitationRow> = match after {
            None => self.query(sql::LIST_INVITATIONS_FIRST).bind(limit).fetch_all().await?,
            Some(after) => self.query(sql::LIST_INVITATIONS_AFTER).bind(after).bind(limit).fetch_all().await?,
        };
        rows.into_iter().map(Invitation::try_from).collect()
    }

    async fn revoke_invitation(&self, id: Uuid, now: UnixTime) -> Result<bool, StoreError> {
        Ok(self.query(sql::REVOKE_INVITATION).bind(id).bind(now).execute().await? > 0)
    }

    async fn accept_invitation(
        &self,
        token_hash: &[u8],
        user: &User,
        identity: Option<&FederatedIdentity>,
        now: UnixTime,
    ) -> Result<AcceptOutcome, StoreError> {
        // The first statement writes: SQLite's BEGIN IMMEDIATE and PostgreSQL's row lock make
        // concurrent acceptances of one token take turns, and only the first finds it pending.
        let mut tx = self.begin_write().await?;
        let row: Option<InvitationRow> =
            tx.query(sql::ACCEPT_INVITATION).bind(token_hash).bind(now).fetch_optional().await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(AcceptOutcome::Invalid);
        };
        let mut invitation = Invitation::try_from(row)?;
        match insert_user(tx.query(sql::INSERT_USER), user).execute().await {
            Ok(_) => {}
            Err(StoreError::Conflict("email")) => {
                tx.rollback().await?;
                return Ok(AcceptOutcome::EmailTaken);
            }
            Err(e) => return Err(e),
        }
        tx.query(sql::SET_INVITATION_USER).bind(invitation.id).bind(user.id.0).execute().await?;
        invitation.accepted_user_id = Some(user.id);
        if let Some(identity) = identity {
            insert_identity(tx.query(sql::INSERT_IDENTITY), identity).execute().await?;
        }
        let mut granted = Vec::with_capacity(invitation.roles.len());
        for role in &invitation.roles {
            if tx.query(sql::GRANT_INVITED_ROLE).bind(user.id.0).bind(role.as_str()).bind(now).execute().await? > 0 {
                granted.push(role.clone());
            }
        }
        tx.commit().await?;
        Ok(AcceptOutcome::Accepted { invitation: Box::new(invitation), granted })
    }
}
