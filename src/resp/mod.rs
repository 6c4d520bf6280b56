//! The RESP codec: request decoding (multibulk and inline, with limits) and
//! reply encoding (RESP2 / RESP3). It knows nothing of the keyspace.
//!
//! Requests are decoded by our own small resumable decoder ([`Decoder`]),
//! simpler and faster for the one shape clients send (an array of bulk
//! strings, or an inline line) than a general frame parser; the
//! `redis-protocol` crate serves as an independent decoder in the tests.

mod decode;
mod encode;

pub use decode::{split_args, Decoded, Decoder, Limits, ProtocolError, INLINE_MAX_SIZE};
pub use encode::{encode, format_double, Protocol};
