//! The rule behind `RbacStore::change_user_guarded`, shared by both backends: what a guarded
//! change may do, given the user's state read inside the transaction; and the folding of
//! `sql::USER_ACCESS` / `sql::CLIENT_ACCESS` rows into an [`Access`].

use gatehouse_core::rbac::{ADMIN_ROLE, Access, GuardOutcome, GuardedChange};
use gatehouse_core::store::StoreError;

use crate::rows::{permission_name, role_name};

/// The user's state as `sql::USER_GUARD_STATE` reads it (under the transaction's lock).
pub(crate) struct UserGuardState {
    pub active: bool,
    /// Holds the role a `RevokeRole` names (unused otherwise).
    pub has_role: bool,
    pub is_admin: bool,
}

/// `None` means "go ahead"; otherwise the outcome to report without changing anything.
/// `other_active_admins` is asked only when the answer depends on it.
pub(crate) fn refusal(
    change: &GuardedChange,
    state: Option<&UserGuardState>,
    other_active_admins: impl FnOnce() -> i64,
) -> Option<GuardOutcome> {
    let Some(state) = state else { return Some(GuardOutcome::NotFound) };
    let removes_admin = match change {
        GuardedChange::RevokeRole(role) => {
            if !state.has_role {
                return Some(GuardOutcome::NotFound);
            }
            role.as_str() == ADMIN_ROLE
        }
        GuardedChange::Disable | GuardedChange::Delete => true,
    };
    (removes_admin && state.is_admin && state.active && other_active_admins() == 0).then_some(GuardOutcome::LastAdmin)
}

/// `(role, permission)` rows of `sql::USER_ACCESS` or `sql::CLIENT_ACCESS`.
pub(crate) fn access(rows: Vec<(String, Option<String>)>) -> Result<Access, StoreError> {
    let parsed = rows
        .into_iter()
        .map(|(role, permission)| Ok((role_name(role)?, permission.map(permission_name).transpose()?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Access::from_rows(parsed))
}
