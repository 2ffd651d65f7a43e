//! The domain types every layer of Tern shares: message ids, addresses, the
//! protocol-neutral `Message` and `DeliveryReport`, and their states.
//! No I/O, no runtime, no wire format: each connector maps its PDUs to and from these.
//! The one clock read of the whole system is here too ([`now_ms`]).

mod address;
pub mod clock;
mod message;
mod receipt;
mod refusal;

pub use address::{Address, AddressError, Npi, Ton};
pub use clock::now_ms;
pub use message::{
    Body, Coding, ConcatRef, Message, MessageId, Priority, ReceiptRequest, Tlv, MAX_MESSAGE_ID_LEN,
};
pub use receipt::{DeliveryReport, MessageState};
pub use refusal::Rejection;
