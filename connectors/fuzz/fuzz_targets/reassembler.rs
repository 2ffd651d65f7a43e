//! Drives the concatenation UDH parser and the reassembler with arbitrary part
//! sequences, checking the reassembler against a plain model: every part it
//! keeps, completes, evicts or expires must match, and its bounds must hold.

#![no_main]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tern_encoding::reassembly::{
    Fragment, Incomplete, Pushed, Reassembler, ReassemblyError, ReassemblyLimits, Status,
};
use tern_encoding::{gsm7, parse_concat_udh, split_user_data, ucs2};

const LIMITS: ReassemblyLimits = ReassemblyLimits {
    max_partials: 8,
    max_buffered_bytes: 512,
    max_total: 16,
    timeout: Duration::from_millis(100),
};

/// (key, reference) → (total, seq → data): what the reassembler should hold.
type Model = HashMap<(u8, u16), (u8, BTreeMap<u8, Vec<u8>>)>;

/// Reads the fuzz input as a stream of operations.
struct Ops<'a>(&'a [u8]);

impl<'a> Ops<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn bytes(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        taken
    }
}

fuzz_target!(|data: &[u8]| {
    let mut ops = Ops(data);
    let mut r: Reassembler<u8, u64> = Reassembler::new(LIMITS);
    let mut model = Model::new();
    let mut now = 0u64;
    while let Some(op) = ops.byte() {
        let key = op >> 4;
        match op & 0x03 {
            // User data with UDHI set, as received off the wire.
            0 => {
                let len = usize::from(ops.byte().unwrap_or(0));
                let user_data = ops.bytes(len);
                let Ok((udh, body)) = split_user_data(user_data) else {
                    continue;
                };
                // The body decoders see the same hostile octets.
                let _ = ucs2::decode(body);
                let _ = gsm7::decode(body);
                if let Ok(Some(info)) = parse_concat_udh(udh) {
                    let fragment = Fragment::new(info, body);
                    let result = r.push(key, fragment, now);
                    check_push(&mut model, key, fragment, result);
                }
            }
            // A fragment with numbers chosen directly, as SAR TLVs give them.
            1 => {
                let reference = u16::from(ops.byte().unwrap_or(0) & 0x07);
                let total = ops.byte().unwrap_or(0) % 20;
                let seq = ops.byte().unwrap_or(0) % 20;
                let len = usize::from(ops.byte().unwrap_or(0));
                let fragment = Fragment {
                    reference,
                    total,
                    seq,
                    data: ops.bytes(len),
                };
                let result = r.push(key, fragment, now);
                check_push(&mut model, key, fragment, result);
            }
            // Time passes, possibly backwards.
            2 => {
                let step = u64::from(ops.byte().unwrap_or(0));
                now = if op & 0x04 == 0 {
                    now.saturating_add(step)
                } else {
                    now.saturating_sub(step)
                };
            }
            _ => {
                for gone in r.expire(now) {
                    check_gone(&mut model, gone);
                }
                if let Some(deadline) = r.next_deadline() {
                    assert!(deadline > now, "expire left a due partial");
                }
            }
        }
        assert_eq!(r.len(), model.len());
        let bytes: usize = model
            .values()
            .flat_map(|(_, parts)| parts.values())
            .map(Vec::len)
            .sum();
        assert_eq!(r.buffered_bytes(), bytes);
        assert!(r.len() <= LIMITS.max_partials);
        assert!(r.buffered_bytes() <= LIMITS.max_buffered_bytes);
    }
});

fn check_push(
    model: &mut Model,
    key: u8,
    fragment: Fragment<'_>,
    result: Result<Pushed<u8>, ReassemblyError>,
) {
    let map_key = (key, fragment.reference);
    let pushed = match result {
        Ok(pushed) => pushed,
        Err(ReassemblyError::TotalMismatch { expected, got, .. }) => {
            assert_eq!(model.get(&map_key).map(|(total, _)| *total), Some(expected));
            assert_eq!(got, fragment.total);
            return;
        }
        Err(_) => return,
    };
    for gone in pushed.evicted {
        assert_ne!(
            (gone.key, gone.reference),
            map_key,
            "evicted the partial being added to"
        );
        check_gone(model, gone);
    }
    match pushed.status {
        Status::Complete(message) => {
            let expected = match model.remove(&map_key) {
                Some((total, mut parts)) => {
                    assert_eq!(total, fragment.total);
                    assert!(parts.insert(fragment.seq, fragment.data.to_vec()).is_none());
                    assert_eq!(parts.len(), usize::from(total));
                    parts.into_values().flatten().collect()
                }
                None => {
                    assert_eq!(fragment.total, 1);
                    fragment.data.to_vec()
                }
            };
            assert_eq!(message, expected);
        }
        Status::Pending { received, total } => {
            let (known_total, parts) = model
                .entry(map_key)
                .or_insert_with(|| (fragment.total, BTreeMap::new()));
            assert_eq!(*known_total, total);
            assert!(parts.insert(fragment.seq, fragment.data.to_vec()).is_none());
            assert_eq!(parts.len(), usize::from(received));
            assert!(received < total);
        }
        Status::Duplicate => {
            let (_, parts) = model
                .get(&map_key)
                .expect("duplicate of an unknown partial");
            assert!(parts.contains_key(&fragment.seq));
        }
    }
}

fn check_gone(model: &mut Model, gone: Incomplete<u8>) {
    let (total, parts) = model
        .remove(&(gone.key, gone.reference))
        .expect("evicted an unknown partial");
    assert_eq!(total, gone.total);
    assert_eq!(parts.into_iter().collect::<Vec<_>>(), gone.parts);
}
