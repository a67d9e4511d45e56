//! Who a federated sign-in becomes: the rules for signing in through an existing link, linking
//! to a local account, and creating an account just in time.
//!
//! The identity is (provider, `sub`); the email is never used to *find* an account to sign
//! into. An upstream email that matches a local account only ever leads to "sign in with your
//! password first, then link": someone who registers the victim's address at some provider
//! (verified there or not) gets nothing. Linking needs both a verified upstream email and proof
//! of control of the local account (an active session of that account when the link started
//! and when it completes).

use super::FederatedIdentity;
use super::claims::UpstreamIdentity;
use crate::user::UserId;

/// Just-in-time account creation (`federation.provisioning`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provisioning {
    /// Any new upstream identity with a verified email gets an account.
    Open,
    /// Accounts are created only for addresses with a pending invitation (which the sign-in
    /// spends, granting its roles); existing accounts may link a provider.
    InviteOnly,
    /// Accounts are created only for verified emails in these domains (lower case).
    Domains(Vec<String>),
}

impl Provisioning {
    pub fn parse(mode: &str, domains: &[String]) -> Option<Self> {
        match mode {
            "open" => Some(Self::Open),
            "invite_only" => Some(Self::InviteOnly),
            "domains" if !domains.is_empty() => {
                Some(Self::Domains(domains.iter().map(|d| d.trim().trim_start_matches('@').to_lowercase()).collect()))
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::InviteOnly => "invite_only",
            Self::Domains(_) => "domains",
        }
    }
}

/// What to do with a verified upstream identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The identity is linked to this account: sign in.
    SignIn(UserId),
    /// A signed-in user asked to link this identity to their account.
    Link(UserId),
    /// Create an account for the identity and link it (through a pending invitation of its
    /// email if there is one, which grants the invitation's roles).
    Create,
    /// Create the account only through a pending invitation of its email; refuse
    /// ([`Refusal::ProvisioningClosed`]) without one.
    CreateIfInvited,
    Refuse(Refusal),
}

/// Why a federated sign-in was refused (the audit `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A local account has this email: its owner must sign in with its password and link.
    LinkRequiresSignIn,
    /// Linking or creating needs an email the upstream marks verified.
    EmailNotVerified,
    NoEmail,
    ProvisioningClosed,
    DomainNotAllowed,
    /// The upstream identity is already linked to a different account.
    LinkedToOtherAccount,
    /// The linked account is disabled.
    AccountDisabled,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LinkRequiresSignIn => "link_requires_sign_in",
            Self::EmailNotVerified => "email_not_verified",
            Self::NoEmail => "no_email",
            Self::ProvisioningClosed => "provisioning_closed",
            Self::DomainNotAllowed => "domain_not_allowed",
            Self::LinkedToOtherAccount => "linked_to_other_account",
            Self::AccountDisabled => "account_disabled",
        }
    }
}

/// The decision. `existing` is the link of (provider, sub), if any; `linking` the user who
/// started a link from their account page (their session checked again at the callback);
/// `email_owner` the local account with the upstream's email, if any.
pub fn decide(
    identity: &UpstreamIdentity,
    existing: Option<&FederatedIdentity>,
    linking: Option<UserId>,
    email_owner: Option<UserId>,
    provisioning: &Provisioning,
) -> Decision {
    if let Some(link) = existing {
        return match linking {
            Some(user) if user != link.user_id => Decision::Refuse(Refusal::LinkedToOtherAccount),
            _ => Decision::SignIn(link.user_id),
        };
    }
    if let Some(user) = linking {
        return if identity.email_verified {
            Decision::Link(user)
        } else {
            Decision::Refuse(Refusal::EmailNotVerified)
        };
    }
    if email_owner.is_some() {
        // Same answer whether or not the upstream verified the email; the audit tells which.
        return Decision::Refuse(if identity.email_verified {
            Refusal::LinkRequiresSignIn
        } else {
            Refusal::EmailNotVerified
        });
    }
    let Some(email) = &identity.email else {
        return Decision::Refuse(Refusal::NoEmail);
    };
    if !identity.email_verified {
        return Decision::Refuse(Refusal::EmailNotVerified);
    }
    match provisioning {
        Provisioning::Open => Decision::Create,
        Provisioning::InviteOnly => Decision::CreateIfInvited,
        Provisioning::Domains(domains) => {
            let domain = email.key().rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            if domains.iter().any(|d| d == domain) {
                Decision::Create
            } else {
                Decision::Refuse(Refusal::DomainNotAllowed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::Email;

    fn identity(email: Option<&str>, verified: bool) -> UpstreamIdentity {
        UpstreamIdentity {
            provider: "google".into(),
            subject: "sub-1".into(),
            email: email.map(|e| Email::parse(e).unwrap()),
            email_verified: verified,
            name: None,
            auth_time: None,
        }
    }

    fn link(user: UserId) -> FederatedIdentity {
        FederatedIdentity {
            provider: "google".into(),
            subject: "sub-1".into(),
            user_id: user,
            email: None,
            created_at: 0,
            last_login_at: 0,
        }
    }

    #[test]
    fn existing_link_wins_over_email() {
        let (owner, other) = (UserId::generate(), UserId::generate());
        let id = identity(Some("changed@x.example"), false);
        assert_eq!(decide(&id, Some(&link(owner)), None, Some(other), &Provisioning::Open), Decision::SignIn(owner));
        assert_eq!(
            decide(&id, Some(&link(owner)), Some(other), None, &Provisioning::Open),
            Decision::Refuse(Refusal::LinkedToOtherAccount)
        );
    }

    #[test]
    fn matching_email_never_links_without_proof() {
        let victim = UserId::generate();
        for verified in [true, false] {
            let d =
                decide(&identity(Some("victim@x.example"), verified), None, None, Some(victim), &Provisioning::Open);
            assert!(matches!(d, Decision::Refuse(_)), "{d:?}");
        }
    }

    #[test]
    fn linking_needs_verified_email_and_session() {
        let me = UserId::generate();
        let p = Provisioning::Open;
        assert_eq!(decide(&identity(Some("me@x.example"), true), None, Some(me), Some(me), &p), Decision::Link(me));
        assert_eq!(
            decide(&identity(Some("me@x.example"), false), None, Some(me), Some(me), &p),
            Decision::Refuse(Refusal::EmailNotVerified)
        );
    }

    #[test]
    fn provisioning_modes() {
        let id = identity(Some("new@corp.example"), true);
        assert_eq!(decide(&id, None, None, None, &Provisioning::Open), Decision::Create);
        assert_eq!(decide(&id, None, None, None, &Provisioning::InviteOnly), Decision::CreateIfInvited);
        let corp = Provisioning::parse("domains", &["@Corp.Example".into()]).unwrap();
        assert_eq!(decide(&id, None, None, None, &corp), Decision::Create);
        let elsewhere = identity(Some("new@corp.example.evil"), true);
        assert_eq!(decide(&elsewhere, None, None, None, &corp), Decision::Refuse(Refusal::DomainNotAllowed));
        assert_eq!(
            decide(&identity(Some("new@corp.example"), false), None, None, None, &corp),
            Decision::Refuse(Refusal::EmailNotVerified)
        );
        assert_eq!(
            decide(&identity(None, false), None, None, None, &Provisioning::Open),
            Decision::Refuse(Refusal::NoEmail)
        );
        assert_eq!(Provisioning::parse("domains", &[]), None);
        assert_eq!(Provisioning::parse("sometimes", &[]), None);
    }
}
