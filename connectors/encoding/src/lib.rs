//! SMS text encodings: GSM 7-bit, Latin-1, UCS-2 and binary, transliteration,
//! splitting into billed parts and bounded reassembly of received parts.
//! Pure and I/O-free: it knows nothing of SMPP, sessions, clocks or storage.

pub mod alphabet;
pub mod gsm7;
pub mod latin1;
pub mod reassembly;
pub mod split;
pub mod transliterate;
pub mod ucs2;
pub mod udh;

pub use alphabet::{choose, Alphabet, Choice, ChoosePolicy, DecodeError, EncodeError};
pub use reassembly::{Reassembler, ReassemblyError, ReassemblyLimits};
pub use split::{count_parts, split, split_binary, Concat, Part, SplitError, SplitOptions};
pub use transliterate::transliterate;
pub use udh::{parse_concat_udh, split_user_data, ConcatInfo, UdhError};
