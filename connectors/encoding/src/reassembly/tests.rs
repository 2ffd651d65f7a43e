use super::*;

type Key = (&'static str, &'static str);
const KEY: Key = ("4912345", "4467890");

fn frag(reference: u16, total: u8, seq: u8, data: &[u8]) -> Fragment<'_> {
    Fragment {
        reference,
        total,
        seq,
        data,
    }
}

fn limits() -> ReassemblyLimits {
    ReassemblyLimits {
        max_partials: 3,
        max_buffered_bytes: 100,
        max_total: 10,
        timeout: Duration::from_millis(1000),
    }
}

fn reassembler() -> Reassembler<Key, u64> {
    Reassembler::new(limits())
}

fn status(r: &mut Reassembler<Key, u64>, f: Fragment<'_>, now: u64) -> Status {
    r.push(KEY, f, now).unwrap().status
}

#[test]
fn parts_in_order_complete_the_message() {
    let mut r = reassembler();
    assert_eq!(
        status(&mut r, frag(7, 2, 1, b"hel"), 0),
        Status::Pending {
            received: 1,
            total: 2
        }
    );
    assert_eq!(
        status(&mut r, frag(7, 2, 2, b"lo"), 1),
        Status::Complete(b"hello".to_vec())
    );
    assert!(r.is_empty());
    assert_eq!(r.buffered_bytes(), 0);
    assert_eq!(r.next_deadline(), None);
}

#[test]
fn parts_out_of_order_are_put_back_in_sequence() {
    let mut r = reassembler();
    status(&mut r, frag(7, 3, 3, b"c"), 0);
    status(&mut r, frag(7, 3, 1, b"a"), 0);
    assert_eq!(
        status(&mut r, frag(7, 3, 2, b"b"), 0),
        Status::Complete(b"abc".to_vec())
    );
}

#[test]
fn duplicate_parts_are_ignored_and_the_first_copy_kept() {
    let mut r = reassembler();
    status(&mut r, frag(7, 2, 1, b"a"), 0);
    assert_eq!(status(&mut r, frag(7, 2, 1, b"X"), 0), Status::Duplicate);
    assert_eq!(r.buffered_bytes(), 1);
    assert_eq!(
        status(&mut r, frag(7, 2, 2, b"b"), 0),
        Status::Complete(b"ab".to_vec())
    );
}

#[test]
fn single_part_messages_pass_straight_through() {
    let mut r = reassembler();
    assert_eq!(
        status(&mut r, frag(7, 1, 1, b"solo"), 0),
        Status::Complete(b"solo".to_vec())
    );
    assert!(r.is_empty());
}

#[test]
fn the_caller_key_and_reference_separate_messages() {
    let mut r = reassembler();
    status(&mut r, frag(7, 2, 1, b"a"), 0);
    r.push(("other", "x"), frag(7, 2, 1, b"b"), 0).unwrap();
    status(&mut r, frag(8, 2, 1, b"c"), 0);
    assert_eq!(r.len(), 3);
    assert_eq!(
        status(&mut r, frag(8, 2, 2, b"d"), 0),
        Status::Complete(b"cd".to_vec())
    );
}

#[test]
fn malformed_numbers_are_typed_errors() {
    let mut r = reassembler();
    let err = |r: &mut Reassembler<Key, u64>, f| r.push(KEY, f, 0).unwrap_err();
    assert_eq!(
        err(&mut r, frag(1, 0, 1, b"")),
        ReassemblyError::Concat(ConcatError::ZeroTotal)
    );
    assert_eq!(
        err(&mut r, frag(1, 2, 0, b"")),
        ReassemblyError::Concat(ConcatError::ZeroSeq)
    );
    assert_eq!(
        err(&mut r, frag(1, 2, 3, b"")),
        ReassemblyError::Concat(ConcatError::SeqAboveTotal { seq: 3, total: 2 })
    );
    assert_eq!(
        err(&mut r, frag(1, 11, 1, b"")),
        ReassemblyError::TotalAboveLimit {
            total: 11,
            limit: 10
        }
    );
    assert!(r.is_empty());
}

#[test]
fn a_part_disagreeing_on_the_total_is_refused() {
    let mut r = reassembler();
    status(&mut r, frag(7, 3, 1, b"a"), 0);
    assert_eq!(
        r.push(KEY, frag(7, 2, 2, b"b"), 0).unwrap_err(),
        ReassemblyError::TotalMismatch {
            reference: 7,
            expected: 3,
            got: 2
        }
    );
    assert_eq!(
        status(&mut r, frag(7, 3, 2, b"b"), 0),
        Status::Pending {
            received: 2,
            total: 3
        }
    );
}

#[test]
fn too_many_partials_evicts_the_oldest_and_reports_it() {
    let mut r = reassembler();
    for reference in 1..=3 {
        status(&mut r, frag(reference, 2, 1, b"x"), u64::from(reference));
    }
    let pushed = r.push(KEY, frag(4, 2, 2, b"y"), 10).unwrap();
    assert_eq!(
        pushed.status,
        Status::Pending {
            received: 1,
            total: 2
        }
    );
    assert_eq!(
        pushed.evicted,
        vec![Incomplete {
            key: KEY,
            reference: 1,
            total: 2,
            parts: vec![(1, b"x".to_vec())],
            reason: EvictReason::TooManyPartials
        }]
    );
    assert_eq!((r.len(), r.buffered_bytes()), (3, 3));
}

#[test]
fn byte_budget_evicts_other_partials_but_never_the_growing_one() {
    let mut r = reassembler();
    status(&mut r, frag(1, 3, 1, &[0; 40]), 0);
    status(&mut r, frag(2, 3, 1, &[0; 40]), 1);
    let pushed = r.push(KEY, frag(2, 3, 2, &[0; 40]), 2).unwrap();
    assert_eq!(
        pushed.status,
        Status::Pending {
            received: 2,
            total: 3
        }
    );
    assert_eq!(pushed.evicted.len(), 1);
    assert_eq!(
        (pushed.evicted[0].reference, pushed.evicted[0].reason),
        (1, EvictReason::BufferFull)
    );
    assert_eq!(r.buffered_bytes(), 80);
}

#[test]
fn a_part_that_cannot_fit_the_budget_is_refused_without_evicting() {
    let mut r = reassembler();
    status(&mut r, frag(1, 3, 1, &[0; 10]), 0);
    status(&mut r, frag(2, 3, 1, &[0; 60]), 0);
    assert_eq!(
        r.push(KEY, frag(2, 3, 2, &[0; 50]), 0).unwrap_err(),
        ReassemblyError::OverBudget {
            len: 110,
            budget: 100
        }
    );
    assert_eq!(
        r.push(KEY, frag(3, 3, 1, &[0; 101]), 0).unwrap_err(),
        ReassemblyError::OverBudget {
            len: 101,
            budget: 100
        }
    );
    assert_eq!((r.len(), r.buffered_bytes()), (2, 70));
}

#[test]
fn the_completing_part_needs_no_budget() {
    let mut r = reassembler();
    status(&mut r, frag(1, 2, 1, &[1; 100]), 0);
    assert_eq!(
        status(&mut r, frag(1, 2, 2, &[2; 50]), 0),
        Status::Complete([[1; 100].as_slice(), &[2; 50]].concat())
    );
}

#[test]
fn expire_returns_partials_past_their_deadline_oldest_first() {
    let mut r = reassembler();
    status(&mut r, frag(1, 2, 1, b"a"), 0);
    status(&mut r, frag(2, 3, 2, b"b"), 500);
    assert_eq!(r.next_deadline(), Some(1000));
    assert!(r.expire(999).is_empty());
    let expired = r.expire(1500);
    assert_eq!(
        expired.iter().map(|i| i.reference).collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(expired.iter().all(|i| i.reason == EvictReason::Expired));
    assert_eq!(expired[1].parts, vec![(2, b"b".to_vec())]);
    assert!(r.is_empty());
    assert_eq!(r.buffered_bytes(), 0);
}

#[test]
fn later_parts_do_not_extend_the_deadline() {
    let mut r = reassembler();
    status(&mut r, frag(1, 3, 1, b"a"), 0);
    status(&mut r, frag(1, 3, 2, b"b"), 900);
    assert_eq!(r.expire(1000).len(), 1);
}

#[test]
fn std_instant_drives_time_as_well() {
    let start = Instant::now();
    let mut r: Reassembler<u32, Instant> = Reassembler::new(limits());
    r.push(1, frag(1, 2, 1, b"a"), start).unwrap();
    assert!(r.expire(start + Duration::from_millis(999)).is_empty());
    assert_eq!(r.expire(start + Duration::from_secs(1)).len(), 1);
}

#[test]
fn zero_max_partials_still_holds_one() {
    let mut r: Reassembler<Key, u64> = Reassembler::new(ReassemblyLimits {
        max_partials: 0,
        ..limits()
    });
    status(&mut r, frag(1, 2, 1, b"a"), 0);
    let pushed = r.push(KEY, frag(2, 2, 1, b"b"), 0).unwrap();
    assert_eq!(pushed.evicted.len(), 1);
    assert_eq!(r.len(), 1);
}
