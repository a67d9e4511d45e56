//! The Cedar schema Gatehouse ships with, used until an operator stores their own
//! (docs/policies.md explains every attribute).

/// The entity types and actions the evaluation builds (see `request.rs`): `User`/`Client`
/// principals whose `id`, `roles` and `permissions` Gatehouse fills in from its own store, a
/// generic `Resource` whose `kind` and `id` are the AuthZEN resource's `type` and `id`, and a
/// context whose `time`, `hour` and `weekday` come from Gatehouse's clock (UTC).
pub const DEFAULT_SCHEMA: &str = r#"// Gatehouse default Cedar schema. Replace it with `gatehouse policies schema put`.
namespace Gatehouse {
  entity User = {
    id: String,
    roles: Set<String>,
    permissions: Set<String>,
    mfa: Bool,
    email?: String,
    department?: String,
    ip_address?: String,
    device_id?: String,
  };

  entity Client = {
    id: String,
    roles: Set<String>,
    permissions: Set<String>,
    mfa: Bool,
    department?: String,
  };

  entity Resource = {
    kind: String,
    id: String,
    owner?: String,
    department?: String,
    sensitive?: Bool,
    classification?: String,
    level?: Long,
  };

  type RequestContext = {
    time: Long,
    hour: Long,
    weekday: Long,
    ip_address?: String,
  };

  action read, list, create, update, edit, delete, approve, share, export appliesTo {
    principal: [User, Client],
    resource: [Resource],
    context: RequestContext,
  };
}
"#;
