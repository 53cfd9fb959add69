//! LOAD DATA LOCAL INFILE: the server asks the client for a file, whose packets fastlb
//! passes on to the server.

use super::response::{Failure, ForwardError};
use super::upstream::Upstream;
use crate::mysql::protocol::stream::PacketStream;

/// The server asked for a LOCAL INFILE: the client's file packets go to it, up to the
/// empty packet that ends the file.
pub(super) async fn relay_local_infile(
    client: &mut PacketStream,
    upstream: &mut Upstream,
) -> Result<(), Failure> {
    let fail = |error, forwarded| Failure { error, forwarded };
    loop {
        let packet = client
            .read_packet(crate::mysql::protocol::packet::MAX_PART)
            .await
            .map_err(|e| match e {
                crate::mysql::protocol::stream::ReadError::Io(io) => {
                    fail(ForwardError::Client(io), true)
                }
                crate::mysql::protocol::stream::ReadError::TooLarge(_) => {
                    fail(ForwardError::Protocol("oversized file packet"), true)
                }
            })?;
        upstream
            .send_raw(packet.raw())
            .await
            .map_err(|e| fail(ForwardError::Server(e), true))?;
        if packet.payload().is_empty() {
            return Ok(());
        }
    }
}
