//! Joining the parts of a concatenated message once all of them are in. Bounded buffering
//! of parts that arrive over time is `tern_encoding::Reassembler`'s job; this is the last
//! step, on a complete set.

use tern_model::{Body, Message};

use super::coding::{alphabet_of, decode_body};
use super::MappingError;

/// The message the parts of one concatenated message make, in any order. All parts must
/// share reference, total and coding, and every sequence number from 1 to total must be
/// there exactly once. The joined message has the first part's fields, no UDH and no
/// concatenation reference.
pub fn join_parts(mut parts: Vec<Message>) -> Result<Message, MappingError> {
    let first = parts.first().ok_or(MappingError::Parts("no parts"))?;
    let Some(concat) = first.concat else {
        return match parts.len() {
            1 => Ok(parts.remove(0)),
            _ => Err(MappingError::Parts("a part has no concatenation reference")),
        };
    };
    let coding = first.coding;
    if usize::from(concat.total) != parts.len() {
        return Err(MappingError::Parts("part count differs from the total"));
    }
    for part in &parts {
        let Some(this) = part.concat else {
            return Err(MappingError::Parts("a part has no concatenation reference"));
        };
        if this.reference != concat.reference || this.total != concat.total {
            return Err(MappingError::Parts("parts of different messages"));
        }
        if part.coding != coding {
            return Err(MappingError::Parts("parts in different codings"));
        }
    }
    parts.sort_by_key(|part| part.concat.map_or(0, |c| c.seq));
    let in_order = parts
        .iter()
        .zip(1..=concat.total)
        .all(|(part, seq)| part.concat.is_some_and(|c| c.seq == seq));
    if !in_order {
        return Err(MappingError::Parts(
            "a sequence number is missing or repeated",
        ));
    }

    let all_text = parts.iter().all(|part| matches!(part.body, Body::Text(_)));
    let body = if all_text {
        Body::Text(
            parts
                .iter()
                .filter_map(|part| part.body.as_text())
                .collect(),
        )
    } else {
        // Some part kept raw octets (a UCS-2 pair cut between parts): join octets, then
        // decode the whole.
        let mut octets = Vec::new();
        for part in &parts {
            match &part.body {
                Body::Text(text) => alphabet_of(coding)
                    .encode_into(text, &mut octets)
                    .map_err(MappingError::Encode)?,
                Body::Binary(data) => octets.extend_from_slice(data),
            }
        }
        decode_body(coding, &octets, false)?
    };
    let mut message = parts.swap_remove(0);
    message.udh = None;
    message.concat = None;
    message.body = body;
    Ok(message)
}
