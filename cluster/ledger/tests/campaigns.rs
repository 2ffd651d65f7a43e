//! Campaign bookings: reserving ahead, blocking other traffic from the booked part,
//! feeding leases inside the window, resizing within the tolerance, ending.

mod common;

use common::*;
use tern_ledger::{Command, Refusal, Response, State};

const SEND_AT: u64 = T0 + 3_600_000;
const WINDOW: u64 = 600_000;

fn book(id: &str, parts: u64, amount: i64, tolerance_pct: u8) -> Command {
    Command::BookCampaign {
        id: id.into(),
        account: "a".into(),
        send_at_ms: SEND_AT,
        window_ms: WINDOW,
        parts,
        amount,
        tolerance_pct,
    }
}

fn resize(id: &str, parts: u64, amount: i64) -> Command {
    Command::ResizeCampaign {
        id: id.into(),
        parts,
        amount,
    }
}

fn reserved(state: &State) -> (u64, i64) {
    let ledger = &state.accounts["a"].ledger;
    (ledger.reserved_parts, ledger.reserved_amount)
}

#[test]
fn booking_reserves_the_tolerance_rounded_up() {
    let mut state = with_accounts(vec![(prepaid("a", Some(1_000)), 1_000)]);
    ok(&mut state, T0, book("spring", 101, 333, 10));
    // ceil(101 * 1.1) = 112, ceil(333 * 1.1) = 367
    assert_eq!(reserved(&state), (112, 367));
    let campaign = &state.campaigns["spring"];
    assert_eq!(
        (campaign.reserved_parts, campaign.reserved_amount),
        (112, 367)
    );
    assert_eq!((campaign.parts, campaign.amount), (101, 333));
}

#[test]
fn booking_blocks_other_traffic_from_the_reserved_part() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 1_000)]);
    ok(&mut state, T0, book("spring", 50, 500, 10));
    // Before the window: only what is not booked.
    assert_eq!(
        ok(&mut state, T0, acquire(1, "a", 100, 1_000)),
        granted(45, 450)
    );
    // Inside the window: the booking feeds the lease, the ledger's totals stay.
    assert_eq!(
        ok(&mut state, SEND_AT, acquire(2, "a", 30, 300)),
        granted(30, 300)
    );
    assert_eq!(reserved(&state), (100, 1_000));
    assert_eq!(state.campaigns["spring"].reserved_parts, 25);
    assert_eq!(state.leases[&2].campaign.as_deref(), Some("spring"));
    assert_eq!(
        ok(&mut state, SEND_AT, acquire(3, "a", 40, 400)),
        granted(25, 250)
    );
    assert_eq!(state.campaigns["spring"].reserved_parts, 0);
    assert_eq!(
        ok(&mut state, SEND_AT, acquire(4, "a", 40, 400)),
        granted(0, 0)
    );
}

#[test]
fn booking_checks_against_everything_already_booked() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 1_000)]);
    ok(&mut state, T0, book("one", 50, 100, 0));
    ok(&mut state, T0, acquire(1, "a", 20, 0));
    let before = state.clone();
    let r = state.apply(&at(T0, book("two", 31, 100, 0)));
    assert!(matches!(r, Response::Refused(Refusal::OverLimit(_))));
    let r = state.apply(&at(T0, book("two", 30, 901, 0)));
    assert!(matches!(r, Response::Refused(Refusal::OverLimit(_))));
    assert_eq!(state, before);
    ok(&mut state, T0, book("two", 30, 900, 0));
    assert_eq!(reserved(&state), (100, 1_000));
}

#[test]
fn booking_refusals() {
    let mut state = with_accounts(vec![(prepaid("a", None), 1_000)]);
    ok(&mut state, T0, book("spring", 1, 1, 0));
    let before = state.clone();
    let over = Command::BookCampaign {
        id: "late".into(),
        account: "a".into(),
        send_at_ms: T0 - WINDOW,
        window_ms: WINDOW,
        parts: 1,
        amount: 1,
        tolerance_pct: 0,
    };
    let nobody = Command::BookCampaign {
        id: "x".into(),
        account: "nobody".into(),
        send_at_ms: SEND_AT,
        window_ms: WINDOW,
        parts: 1,
        amount: 1,
        tolerance_pct: 0,
    };
    let cases = [
        (book("spring", 1, 1, 0), "exists"),
        (book("neg", 1, -1, 0), "invalid"),
        (book("", 1, 1, 0), "invalid"),
        (over, "invalid"),
        (nobody, "notfound"),
        (book("huge", u64::MAX, 1, 200), "invalid"),
    ];
    for (command, expect) in cases {
        let got = match state.apply(&at(T0, command.clone())) {
            Response::Refused(Refusal::Exists(_)) => "exists",
            Response::Refused(Refusal::Invalid(_)) => "invalid",
            Response::Refused(Refusal::NotFound(_)) => "notfound",
            other => panic!("{command:?}: {other:?}"),
        };
        assert_eq!(got, expect, "{command:?}");
    }
    assert_eq!(state, before);
}

#[test]
fn resize_grows_within_the_tolerance_only() {
    let mut state = with_accounts(vec![(prepaid("a", Some(10_000)), 10_000)]);
    ok(&mut state, T0, book("spring", 1_000, 2_000, 10));
    ok(&mut state, T0, resize("spring", 1_100, 2_200));
    let campaign = &state.campaigns["spring"];
    assert_eq!((campaign.parts, campaign.amount), (1_100, 2_200));
    assert_eq!(
        reserved(&state),
        (1_100, 2_200),
        "the reservation is the ceiling"
    );
    let before = state.clone();
    let r = state.apply(&at(T0, resize("spring", 1_101, 2_200)));
    assert!(matches!(r, Response::Refused(Refusal::Invalid(_))));
    let r = state.apply(&at(T0, resize("spring", 1_100, 2_201)));
    assert!(matches!(r, Response::Refused(Refusal::Invalid(_))));
    let r = state.apply(&at(T0, resize("autumn", 1, 1)));
    assert!(matches!(r, Response::Refused(Refusal::NotFound(_))));
    assert_eq!(state, before);
    // Shrinking and growing back stays under the first ceiling.
    ok(&mut state, T0, resize("spring", 10, 20));
    ok(&mut state, T0, resize("spring", 1_100, 2_200));
}

#[test]
fn cancel_releases_what_is_left() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 1_000)]);
    ok(&mut state, T0, book("spring", 50, 500, 0));
    ok(&mut state, SEND_AT, acquire(1, "a", 20, 200));
    ok(
        &mut state,
        SEND_AT,
        Command::CancelCampaign {
            id: "spring".into(),
        },
    );
    assert!(state.campaigns.is_empty());
    assert_eq!(reserved(&state), (20, 200), "the lease keeps what it drew");
    let r = state.apply(&at(
        T0,
        Command::CancelCampaign {
            id: "spring".into(),
        },
    ));
    assert!(matches!(r, Response::Refused(Refusal::NotFound(_))));
}

#[test]
fn tick_ends_the_window_and_releases_the_rest() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 1_000)]);
    ok(&mut state, T0, book("spring", 50, 500, 0));
    ok(&mut state, SEND_AT, acquire(1, "a", 10, 100));
    ok(&mut state, SEND_AT, settle(1, 10, 100, true));
    ok(&mut state, SEND_AT + WINDOW - 1, Command::Tick);
    assert!(state.campaigns.contains_key("spring"));
    assert_eq!(reserved(&state), (40, 400));
    ok(&mut state, SEND_AT + WINDOW, Command::Tick);
    assert!(state.campaigns.is_empty());
    assert_eq!(reserved(&state), (0, 0));
    assert_eq!(state.accounts["a"].ledger.period_used, 10);
}

#[test]
fn outside_the_window_the_booking_is_not_drawn() {
    let mut state = with_accounts(vec![(prepaid("a", Some(100)), 1_000)]);
    ok(&mut state, T0, book("spring", 100, 0, 0));
    assert_eq!(
        ok(&mut state, SEND_AT - 1, acquire(1, "a", 1, 0)),
        granted(0, 0)
    );
    assert_eq!(
        ok(&mut state, SEND_AT, acquire(2, "a", 1, 0)),
        granted(1, 0)
    );
}
