//! Signing keys: generation, sealing at rest, the rotation lifecycle, and the JWKS.

mod lifecycle;
mod material;
mod rewrap;
mod sealed;
mod service;

pub use lifecycle::{KeyPolicy, KeyState, StoredKey, rotation_due, states};
pub use material::{Algorithm, KeyError, KeyMaterial, thumbprint};
pub use rewrap::{KindCounts, RewrapError, RewrapReport, SealedKind, SealedStore, SealedValue, rewrap};
pub use sealed::{MasterKey, SealError};
pub use service::{Jwks, KeyInfo, KeyService, KeyServiceError};
