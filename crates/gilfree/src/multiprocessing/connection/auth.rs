//! The HMAC challenge of an authenticated connection (Python's
//! `deliver_challenge` / `answer_challenge`), HMAC-SHA256 from the `hmac`
//! and `sha2` crates.

use super::conn::Connection;
use crate::multiprocessing::error::{Error, Result};
use crate::sys::{Deadline, os};

pub(super) const CHALLENGE: &[u8] = b"#CHALLENGE#";
pub(super) const WELCOME: &[u8] = b"#WELCOME#";
pub(super) const FAILURE: &[u8] = b"#FAILURE#";
/// Auth messages are small; a peer that claims more is not one of ours.
pub(super) const AUTH_MAX: usize = 256;

pub(super) fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn hmac_ok(key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    m.verify_slice(tag).is_ok()
}

fn auth_recv(c: &Connection, deadline: Deadline) -> Result<Vec<u8>> {
    let old = c.max_message_size();
    c.set_max_message_size(AUTH_MAX);
    let r = c.recv_frame(deadline);
    c.set_max_message_size(old);
    match r {
        Ok((b, _)) => Ok(b),
        Err(Error::MessageTooLarge { .. }) => Err(Error::Authentication("message too long")),
        Err(e) => Err(e),
    }
}

/// Pose the challenge; the peer must answer with the HMAC of it by
/// `deadline` ([`Error::Timeout`] otherwise: a peer that connects and says
/// nothing is not waited for).
pub(crate) fn deliver_challenge(c: &Connection, key: &[u8], deadline: Deadline) -> Result<()> {
    let mut msg = CHALLENGE.to_vec();
    msg.extend(os::system::random_bytes(32)?);
    c.send_bytes(&msg)?;
    let answer = auth_recv(c, deadline)?;
    if hmac_ok(key, &msg, &answer) {
        c.send_bytes(WELCOME)?;
        Ok(())
    } else {
        let _ = c.send_bytes(FAILURE);
        Err(Error::Authentication("digest received was wrong"))
    }
}

/// Answer the peer's challenge with our key, by `deadline`.
pub(crate) fn answer_challenge(c: &Connection, key: &[u8], deadline: Deadline) -> Result<()> {
    let msg = auth_recv(c, deadline)?;
    if !msg.starts_with(CHALLENGE) {
        return Err(Error::Authentication(
            "protocol error: expected a challenge",
        ));
    }
    c.send_bytes(&hmac(key, &msg))?;
    match auth_recv(c, deadline) {
        Ok(r) if r == WELCOME => Ok(()),
        Ok(_) | Err(Error::Eof) => Err(Error::Authentication("digest sent was rejected")),
        Err(e) => Err(e),
    }
}
