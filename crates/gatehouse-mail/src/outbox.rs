//! The development outbox: messages as `.eml` files instead of SMTP.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use gatehouse_core::mail::{Mail, Mailer, SendError};
use lettre::message::Mailbox;

use crate::build_message;

pub struct Outbox {
    dir: PathBuf,
    from: Mailbox,
    reply_to: Option<Mailbox>,
}

impl Outbox {
    /// Messages go to `dir` (created, mode 0700, on first use).
    pub fn new(dir: impl Into<PathBuf>, from: Mailbox, reply_to: Option<Mailbox>) -> Self {
        Self { dir: dir.into(), from, reply_to }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let bytes = build_message(mail, &self.from, self.reply_to.as_ref())?.formatted();
        // Time first, so a directory listing sorts in sending order.
        let name = format!("{}.eml", uuid::Uuid::now_v7());
        let path = self.dir.join(name);
        let dir = self.dir.clone();
        let target = path.clone();
        tokio::task::spawn_blocking(move || write_private(&dir, &target, &bytes))
            .await
            .map_err(|e| SendError::Transient(format!("outbox writer failed: {e}")))?
            .map_err(|e| SendError::Transient(format!("outbox not writable: {e}")))?;
        tracing::info!(
            kind = mail.kind,
            file = %path.display(),
            link = mail.link.as_deref().unwrap_or("-"),
            "mail written to the development outbox (no SMTP server configured)"
        );
        Ok(())
    }

    fn name(&self) -> &'static str {
        "outbox"
    }
}

fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    // Written under a temporary name and renamed, so a reader never sees half a message.
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_core::mail::{Branding, Notice};

    #[tokio::test]
    async fn writes_one_private_eml_per_message() {
        let dir = std::env::temp_dir().join(format!("gatehouse-outbox-{}", uuid::Uuid::now_v7()));
        let from: Mailbox = "Gatehouse <noreply@example.com>".parse().unwrap();
        let outbox = Outbox::new(&dir, from, None);
        let to = gatehouse_core::Email::parse("a@example.com").unwrap();
        let long = "x".repeat(43);
        let mail = Branding::new("Gatehouse", "https://id.example.com")
            .render(&Notice::ResetPassword { to, token: long.clone(), expires_at: 0 })
            .unwrap();
        outbox.send(&mail).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.contains("To: a@example.com"), "{text}");
        assert!(text.contains("Subject: Reset your Gatehouse password"), "{text}");
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(text.contains("quoted-printable"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
