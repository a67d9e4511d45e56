//! `gatehouse users invite` and `gatehouse users invitations list|revoke`: invitations on the
//! configured database, as the operator (the audit trail's actor `cli`). The link goes by mail
//! only: nothing here prints it.

use anyhow::Context;
use gatehouse_core::RequestContext;
use gatehouse_core::invitation::Invitation;
use gatehouse_core::rbac::AdminCapability;
use serde_json::json;
use uuid::Uuid;

use crate::cli::InvitationsCommand;
use crate::server::Services;

pub async fn invite(services: &Services, email: &str, roles: &[String], json: bool) -> anyhow::Result<()> {
    let cap = AdminCapability::operator_cli();
    let invitations = &services.invitations;
    let invitation = invitations.invite(&cap, email, roles, &RequestContext::cli()).await?;
    if json {
        println!("{}", invitation_json(&invitation, invitations.now()));
    } else {
        println!("id:         {}", invitation.id);
        println!("email:      {}", invitation.email);
        println!("roles:      {}", roles_text(&invitation));
        println!("expires at: {}", invitation.expires_at);
        println!("The invitation link was mailed to the address.");
    }
    Ok(())
}

pub async fn run(services: &Services, cmd: InvitationsCommand) -> anyhow::Result<()> {
    let cap = AdminCapability::operator_cli();
    let invitations = &services.invitations;
    match cmd {
        InvitationsCommand::List { limit, after, json } => {
            let after = after.map(|a| Uuid::try_parse(&a).context("--after takes an invitation id")).transpose()?;
            let page = invitations.list(&cap, after, limit).await?;
            let now = invitations.now();
            for i in &page.items {
                if json {
                    println!("{}", invitation_json(i, now));
                } else {
                    println!("{}  {:<9} {}  [{}]", i.id, i.status(now).as_str(), i.email, roles_text(i));
                }
            }
        }
        InvitationsCommand::Revoke { id, json } => {
            let id = Uuid::try_parse(&id).context("an invitation id is a UUID")?;
            invitations.revoke(&cap, id, &RequestContext::cli()).await?;
            if json {
                println!("{}", json!({ "id": id, "status": "revoked" }));
            } else {
                println!("invitation {id} revoked");
            }
        }
    }
    Ok(())
}

fn roles_text(i: &Invitation) -> String {
    i.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

fn invitation_json(i: &Invitation, now: i64) -> serde_json::Value {
    json!({
        "id": i.id,
        "email": i.email.as_str(),
        "roles": i.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "status": i.status(now).as_str(),
        "invited_by": i.invited_by,
        "created_at": i.created_at,
        "expires_at": i.expires_at,
        "accepted_at": i.accepted_at,
        "revoked_at": i.revoked_at,
    })
}
