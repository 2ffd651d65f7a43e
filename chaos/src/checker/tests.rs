use super::*;
use crate::history::ReceiptSeen;

fn op(n: u64, outcome: Outcome) -> SubmitOp {
    SubmitOp {
        op: n,
        customer: "c".into(),
        node: 1,
        dst: format!("49{n}"),
        chars: 10,
        parts: 1,
        registered: true,
        start_ms: n,
        end_ms: n,
        outcome,
    }
}

fn submit(t_ms: u64, conn: u64, dst: &str, status: &str, answered: bool) -> OperatorEvent {
    OperatorEvent::Submit {
        t_ms,
        conn,
        seq: 1,
        src: String::new(),
        dst: dst.into(),
        reference: None,
        part: None,
        parts: None,
        registered: 1,
        status: status.into(),
        id: Some(format!("op-{dst}-{t_ms}")),
        answered,
        fault: None,
    }
}

fn ok(id: &str) -> Outcome {
    Outcome::Ok { id: id.into() }
}

fn verdict_of(history: &History, invariant: Invariant) -> Verdict {
    check(history, &[invariant])
        .into_iter()
        .find(|(i, _)| *i == invariant)
        .unwrap()
        .1
}

#[test]
fn an_acknowledged_message_the_operator_never_saw_is_lost() {
    let mut history = History {
        ops: vec![
            op(1, ok("a")),
            op(2, ok("b")),
            op(
                3,
                Outcome::Unknown {
                    why: "closed".into(),
                },
            ),
        ],
        operator: vec![submit(10, 1, "491", "ESME_ROK", true)],
        ambiguity_ms: 1000,
        ..History::default()
    };
    let lost = verdict_of(&history, Invariant::I1);
    assert!(lost.is_violated(), "{lost:?}");
    // A final receipt for it (a failure the node reported) settles it.
    history.receipts.push(ReceiptSeen {
        customer: "c".into(),
        node: 1,
        t_ms: 20,
        id: "b".into(),
        stat: "UNDELIV".into(),
        answered: true,
        answer_lost: false,
    });
    assert!(!verdict_of(&history, Invariant::I1).is_violated());
}

#[test]
fn a_refused_submit_that_reached_the_operator_violates_i1() {
    let history = History {
        ops: vec![op(
            1,
            Outcome::Fail {
                status: 0x58,
                name: "ESME_RTHROTTLED".into(),
            },
        )],
        operator: vec![submit(10, 1, "491", "ESME_ROK", true)],
        ..History::default()
    };
    assert!(verdict_of(&history, Invariant::I1).is_violated());
}

#[test]
fn a_resend_after_a_known_answer_violates_i2a_but_not_after_an_ambiguous_one() {
    let mut history = History {
        ops: vec![op(1, ok("a"))],
        operator: vec![
            submit(10, 1, "491", "ESME_ROK", true),
            submit(5000, 2, "491", "ESME_ROK", true),
        ],
        ambiguity_ms: 1000,
        ..History::default()
    };
    assert!(verdict_of(&history, Invariant::I2a).is_violated());
    assert!(
        verdict_of(&history, Invariant::I2b).is_violated(),
        "a duplicate, nothing ambiguous"
    );
    // The first answer's connection closed 200 ms later: the node may not have read it.
    history.operator.push(OperatorEvent::Close {
        t_ms: 210,
        conn: 1,
        by: "peer".into(),
    });
    assert!(!verdict_of(&history, Invariant::I2a).is_violated());
    assert!(!verdict_of(&history, Invariant::I2b).is_violated());
    // A throttled answer is known, and retrying it is right.
    history.operator = vec![
        submit(10, 1, "491", "ESME_RTHROTTLED", true),
        submit(500, 1, "491", "ESME_ROK", true),
    ];
    assert!(!verdict_of(&history, Invariant::I2a).is_violated());
}

#[test]
fn charges_must_lie_between_the_acknowledged_and_the_possible() {
    let mut history = History {
        ops: vec![
            op(1, ok("a")),
            op(
                2,
                Outcome::Unknown {
                    why: "timeout".into(),
                },
            ),
        ],
        ..History::default()
    };
    for (used, violated) in [(0, true), (1, false), (2, false), (3, true)] {
        history.figures.ledger_parts = Some(used);
        assert_eq!(
            verdict_of(&history, Invariant::I3).is_violated(),
            violated,
            "{used}"
        );
    }
}

#[test]
fn receipts_twice_need_an_unanswered_delivery_and_never_regress() {
    let receipt = |t_ms, stat: &str, answered| ReceiptSeen {
        customer: "c".into(),
        node: 1,
        t_ms,
        id: "a".into(),
        stat: stat.into(),
        answered,
        answer_lost: false,
    };
    let mut history = History {
        ops: vec![op(1, ok("a"))],
        receipts: vec![receipt(1, "DELIVRD", true), receipt(2, "DELIVRD", true)],
        ..History::default()
    };
    assert!(verdict_of(&history, Invariant::I5).is_violated());
    // Answered, but the bind went down at once: the node may not have read the answer.
    history.receipts[0].answer_lost = true;
    assert!(!verdict_of(&history, Invariant::I5).is_violated());
    history.receipts[0].answer_lost = false;
    history.receipts[0].answered = false;
    assert!(!verdict_of(&history, Invariant::I5).is_violated());
    history.receipts.push(receipt(3, "ENROUTE", true));
    assert!(verdict_of(&history, Invariant::I5).is_violated());
}

#[test]
fn more_submits_in_a_second_than_the_tps_allows_violates_i10() {
    let mut history = History {
        link_tps: Some(2),
        operator: (0..4)
            .map(|n| submit(n * 100, 1, &format!("49{n}"), "ESME_ROK", true))
            .collect(),
        ..History::default()
    };
    assert!(verdict_of(&history, Invariant::I10).is_violated());
    history.link_tps = Some(3);
    assert!(!verdict_of(&history, Invariant::I10).is_violated());
}

#[test]
fn an_id_given_twice_and_a_cdr_missing_are_found() {
    let mut history = History {
        ops: vec![op(1, ok("a")), op(2, ok("a"))],
        ..History::default()
    };
    assert!(verdict_of(&history, Invariant::I11).is_violated());
    history.ops[1].outcome = ok("b");
    assert!(!verdict_of(&history, Invariant::I11).is_violated());
    history.figures.cdr_parts.insert("a".into(), vec![1]);
    history.figures.cdr_parts.insert("b".into(), vec![1, 1]);
    assert!(verdict_of(&history, Invariant::I12).is_violated());
    history.figures.cdr_parts.insert("b".into(), vec![1]);
    assert!(!verdict_of(&history, Invariant::I12).is_violated());
}

#[test]
fn inapplicable_invariants_say_so() {
    let verdicts = check(&History::default(), &[Invariant::I11]);
    assert_eq!(verdicts.len(), Invariant::ALL.len());
    assert!(verdicts
        .iter()
        .all(|(i, v)| (*i == Invariant::I11) != (*v == Verdict::NotApplicable)));
    assert_eq!(Invariant::parse("i2a"), Some(Invariant::I2a));
    assert_eq!(Invariant::I2b.to_string(), "I2b");
}

#[test]
fn a_slow_answer_stamped_after_the_resend_it_caused_is_not_a_resend() {
    // Read first (seq 3), answered only after the node timed it out and sent it again
    // (seq 9), which was answered at once.
    let slow = OperatorEvent::Submit {
        t_ms: 900,
        conn: 1,
        seq: 3,
        src: String::new(),
        dst: "491".into(),
        reference: None,
        part: None,
        parts: None,
        registered: 1,
        status: "ESME_ROK".into(),
        id: Some("late".into()),
        answered: true,
        fault: Some("slow_answer".into()),
    };
    let mut again = submit(800, 1, "491", "ESME_ROK", true);
    if let OperatorEvent::Submit { seq, .. } = &mut again {
        *seq = 9;
    }
    let history = History {
        ops: vec![op(1, ok("a"))],
        operator: vec![slow, again],
        ambiguity_ms: 1000,
        ..History::default()
    };
    assert!(!verdict_of(&history, Invariant::I2a).is_violated());
    assert!(!verdict_of(&history, Invariant::I2b).is_violated());
}
