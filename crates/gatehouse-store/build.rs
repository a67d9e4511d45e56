//! `sqlx::migrate!` embeds the migration files it finds at compile time; this makes Cargo
//! rebuild the crate when a migration is added, not only when an existing one changes.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
