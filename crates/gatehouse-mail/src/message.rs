//! A rendered [`Mail`] as an RFC 5322 message: `multipart/alternative` with the plain text
//! first and the HTML second, both quoted-printable (links longer than a line survive intact).

use gatehouse_core::mail::{Mail, SendError};
use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, MultiPart, SinglePart};

/// The message from `from` (and `reply_to`, if set) to `mail.to`. An address lettre cannot
/// parse is a permanent failure: retrying will not fix it.
pub fn build_message(mail: &Mail, from: &Mailbox, reply_to: Option<&Mailbox>) -> Result<Message, SendError> {
    let to: Mailbox = mail.to.parse().map_err(|_| SendError::Permanent("invalid recipient address".into()))?;
    let mut builder = Message::builder().from(from.clone()).to(to).subject(mail.subject.clone());
    if let Some(r) = reply_to {
        builder = builder.reply_to(r.clone());
    }
    let part = |kind: ContentType, body: &str| {
        SinglePart::builder().header(kind).header(ContentTransferEncoding::QuotedPrintable).body(body.to_owned())
    };
    builder
        .multipart(
            MultiPart::alternative()
                .singlepart(part(ContentType::TEXT_PLAIN, &mail.text))
                .singlepart(part(ContentType::TEXT_HTML, &mail.html)),
        )
        .map_err(|e| SendError::Permanent(format!("message could not be built: {e}")))
}
