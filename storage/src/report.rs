//! Reports made from the CDRs: per UTC day, for one account or one link, how many parts
//! were submitted, delivered, failed, expired, rejected, cancelled or are still pending,
//! the money they carried, how long delivery took and why parts failed; months as the sum
//! of their days; the failed parts of a day; and a message's whole history.
//!
//! Built on [`MessageStore`] alone, so every backend gives the same figures. A day is read
//! one page at a time ([`ReportConfig::page`] records), never whole, so a day of millions
//! of messages costs one page of memory.
//!
//! A day whose records can no longer change is computed once and kept in the store's meta
//! space under `report/account/<name>/<yyyy-mm-dd>` or `report/link/<name>/<yyyy-mm-dd>`
//! (postcard, see [`DayFigures::encode`]); later reports read it from there. A day can no
//! longer change once its end is older than [`ReportConfig::settle_ms`]: the longest
//! validity a message may have plus a margin for late receipts. Younger days are computed
//! each time. What a day keeps is enough to combine days exactly: counts and sums, the
//! failure reasons with their counts, and a compact histogram of delivery times, from
//! which a month's p95 is read (not an average of the days' p95).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use tern_model::MessageId;

use crate::{
    write_durable, CdrCursor, MessageRecord, MessageStore, RecordState, StoreError, WriteOp,
};

const DAY_MS: u64 = 86_400_000;

/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A day, month or name that cannot be reported on; says which and why.
    #[error("{0}")]
    Invalid(String),
}

// ---------------------------------------------------------------------------------------
// Days and months (UTC).

/// A calendar day in UTC, from 1970-01-01 to 9999-12-31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(time::Date);

impl Day {
    /// `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<Self, ReportError> {
        let bad = || ReportError::Invalid(format!("{text:?} is not a day (YYYY-MM-DD, UTC)"));
        let mut fields = text.split('-');
        let (Some(year), Some(month), Some(day), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad());
        };
        if year.len() != 4 || month.len() != 2 || day.len() != 2 {
            return Err(bad());
        }
        let month = parse_month(year, month).ok_or_else(bad)?;
        let day: u8 = day.parse().map_err(|_| bad())?;
        time::Date::from_calendar_date(month.year, month.month, day)
            .map(Day)
            .map_err(|_| bad())
    }

    /// The day `ms` (since the epoch) falls on.
    pub fn of_ms(ms: u64) -> Self {
        let days = i32::try_from(ms / DAY_MS).unwrap_or(i32::MAX);
        let julian = UNIX_EPOCH_JULIAN_DAY.saturating_add(days);
        Day(time::Date::from_julian_day(julian).unwrap_or(time::Date::MAX))
    }

    /// Its first millisecond.
    pub fn start_ms(self) -> u64 {
        let days = self.0.to_julian_day() - UNIX_EPOCH_JULIAN_DAY;
        u64::try_from(days).unwrap_or(0) * DAY_MS
    }

    /// The first millisecond of the next day.
    pub fn end_ms(self) -> u64 {
        self.start_ms() + DAY_MS
    }

    pub fn month(self) -> Month {
        Month {
            year: self.0.year(),
            month: self.0.month(),
        }
    }

    fn next(self) -> Option<Self> {
        self.0.next_day().map(Day)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }
}

/// A calendar month in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: time::Month,
}

/// `YYYY` and `MM` as a month from 1970-01 to 9999-12.
fn parse_month(year: &str, month: &str) -> Option<Month> {
    if !(year.bytes().chain(month.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    let month: u8 = month.parse().ok()?;
    if !(1970..=9999).contains(&year) {
        return None;
    }
    let month = time::Month::try_from(month).ok()?;
    Some(Month { year, month })
}

impl Month {
    /// `YYYY-MM`.
    pub fn parse(text: &str) -> Result<Self, ReportError> {
        let bad = || ReportError::Invalid(format!("{text:?} is not a month (YYYY-MM, UTC)"));
        match text.split_once('-') {
            Some((year, month)) if year.len() == 4 && month.len() == 2 => {
                parse_month(year, month).ok_or_else(bad)
            }
            _ => Err(bad()),
        }
    }

    pub fn first_day(self) -> Day {
        // Every month of 1970-9999 has a first day.
        Day(time::Date::from_calendar_date(self.year, self.month, 1).unwrap_or(time::Date::MIN))
    }

    /// Its days, in order.
    pub fn days(self) -> impl Iterator<Item = Day> {
        std::iter::successors(Some(self.first_day()), |day| day.next())
            .take_while(move |day| day.month() == self)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, u8::from(self.month))
    }
}

// ---------------------------------------------------------------------------------------
// Figures.

/// Delivery times (ms from acceptance to the delivered receipt) as a count, a sum and a
/// log-linear histogram: exact below 256 ms, above it buckets 1/128 of their value wide, so
/// any quantile read from it is at most 0.8% above the true one. Days add up exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryTimes {
    pub count: u64,
    pub sum_ms: u64,
    /// The lowest value of each bucket → how many times fell into it.
    buckets: BTreeMap<u64, u64>,
}

/// Significant bits a bucket keeps: 2^7 buckets per doubling above 2^8.
const BUCKET_BITS: u32 = 8;

/// The lowest value and the width of the bucket `ms` falls into.
fn bucket(ms: u64) -> (u64, u64) {
    let bits = u64::BITS - ms.leading_zeros();
    if bits <= BUCKET_BITS {
        return (ms, 1);
    }
    let shift = bits - BUCKET_BITS;
    ((ms >> shift) << shift, 1 << shift)
}

impl DeliveryTimes {
    pub fn record(&mut self, ms: u64) {
        self.count += 1;
        self.sum_ms = self.sum_ms.saturating_add(ms);
        *self.buckets.entry(bucket(ms).0).or_default() += 1;
    }

    pub fn add(&mut self, other: &DeliveryTimes) {
        self.count += other.count;
        self.sum_ms = self.sum_ms.saturating_add(other.sum_ms);
        for (low, count) in &other.buckets {
            *self.buckets.entry(*low).or_default() += count;
        }
    }

    /// The mean, rounded down; `None` with nothing delivered.
    pub fn average_ms(&self) -> Option<u64> {
        self.sum_ms.checked_div(self.count)
    }

    /// The value `q` (0..=1) of the deliveries were at or below (nearest rank), given as the
    /// highest value of its bucket; `None` with nothing delivered.
    pub fn quantile_ms(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        // Nearest rank: the smallest value with at least q of the values at or below it.
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (low, count) in &self.buckets {
            seen += count;
            if seen >= rank {
                return Some(low + bucket(*low).1 - 1);
            }
        }
        self.buckets
            .keys()
            .next_back()
            .map(|low| low + bucket(*low).1 - 1)
    }

    pub fn p95_ms(&self) -> Option<u64> {
        self.quantile_ms(0.95)
    }
}

/// Failure reasons with their counts. At most [`MAX_REASONS`] distinct reasons are kept;
/// the parts of any further reason are counted under [`OTHER_REASON`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reasons(BTreeMap<String, u64>);

/// Distinct reasons a day (or a sum of days) keeps.
pub const MAX_REASONS: usize = 64;
/// Where the reasons past [`MAX_REASONS`] are counted.
pub const OTHER_REASON: &str = "other";
/// The longest reason kept, in characters.
const MAX_REASON_CHARS: usize = 120;

impl Reasons {
    pub fn count(&mut self, reason: &str, n: u64) {
        let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
        let key = if self.0.contains_key(&reason) || self.0.len() < MAX_REASONS - 1 {
            reason
        } else {
            OTHER_REASON.to_owned()
        };
        *self.0.entry(key).or_default() += n;
    }

    pub fn add(&mut self, other: &Reasons) {
        for (reason, n) in &other.0 {
            self.count(reason, *n);
        }
    }

    /// The `n` most frequent, most frequent first (ties by name).
    pub fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut all: Vec<(String, u64)> = self.0.iter().map(|(r, c)| (r.clone(), *c)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }

    pub fn get(&self, reason: &str) -> u64 {
        self.0.get(reason).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

/// What one account's or link's records of a period say.
///
/// Every part the gateway accepted is `submitted` and ends up in exactly one of
/// `delivered`, `failed` (Failed, Undeliverable, Unknown), `expired`, `cancelled` or
/// `pending` (Accepted, Submitted). `rejected` parts were refused before acceptance and
/// are not submitted. `merged` parts (CMPP parts the gateway joined into one message) are
/// counted in the message they went with, so in none of the others.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    pub submitted: u64,
    pub delivered: u64,
    pub failed: u64,
    pub expired: u64,
    pub rejected: u64,
    pub cancelled: u64,
    pub pending: u64,
    pub merged: u64,
    /// The sum of the prices of the submitted parts (the account's minor units).
    pub money: i64,
    pub delivery: DeliveryTimes,
    /// Why parts failed, expired or were rejected.
    pub reasons: Reasons,
}

impl Figures {
    /// Counts one record.
    pub fn count(&mut self, record: &MessageRecord) {
        use RecordState::*;
        match record.state {
            Rejected => self.rejected += 1,
            Merged => self.merged += 1,
            Accepted | Submitted => self.pending += 1,
            Delivered => {
                self.delivered += 1;
                if let Some(ms) = delivery_ms(record) {
                    self.delivery.record(ms);
                }
            }
            Failed | Undeliverable | Unknown => self.failed += 1,
            Expired => self.expired += 1,
            Cancelled => self.cancelled += 1,
        }
        if !matches!(record.state, Rejected | Merged) {
            self.submitted += 1;
            self.money = self.money.saturating_add(record.price);
        }
        if is_failure(record.state) {
            self.reasons.count(&reason(record), 1);
        }
    }

    pub fn add(&mut self, other: &Figures) {
        self.submitted += other.submitted;
        self.delivered += other.delivered;
        self.failed += other.failed;
        self.expired += other.expired;
        self.rejected += other.rejected;
        self.cancelled += other.cancelled;
        self.pending += other.pending;
        self.merged += other.merged;
        self.money = self.money.saturating_add(other.money);
        self.delivery.add(&other.delivery);
        self.reasons.add(&other.reasons);
    }
}

/// The states whose parts did not get through and have a reason: what the failed-parts
/// list shows and the reasons count.
pub fn is_failure(state: RecordState) -> bool {
    use RecordState::*;
    matches!(state, Failed | Undeliverable | Unknown | Expired | Rejected)
}

/// ms from acceptance to the first Delivered step.
pub fn delivery_ms(record: &MessageRecord) -> Option<u64> {
    record
        .history
        .iter()
        .find(|t| t.state == RecordState::Delivered)
        .map(|t| t.at_ms.saturating_sub(record.accepted_ms))
}

/// Why a part is in its state, as an operator reads it: the step's detail and the status,
/// `refused by the operator (0xb)`, `receipt UNDELIV (err:011)`, `no_credit (0x45)`.
pub fn reason(record: &MessageRecord) -> String {
    let detail = record
        .history
        .iter()
        .rev()
        .find(|t| t.state == record.state)
        .map(|t| t.detail.trim())
        .filter(|d| !d.is_empty());
    let code = record.error.map(|e| format!("{e:#x}")).or_else(|| {
        record
            .receipt
            .as_ref()
            .filter(|r| r.error != 0)
            .map(|r| format!("err:{:03}", r.error))
    });
    match (detail, code) {
        (Some(detail), Some(code)) => format!("{detail} ({code})"),
        (Some(detail), None) => detail.to_owned(),
        (None, Some(code)) => code,
        (None, None) => record.state.as_str().to_owned(),
    }
}

/// Whose records a report is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    Account(String),
    /// The link a record was last sent (or is being sent) over.
    Link(String),
}

impl Subject {
    fn name(&self) -> &str {
        match self {
            Subject::Account(name) | Subject::Link(name) => name,
        }
    }

    /// The meta key of a settled day: `report/account/<name>/<yyyy-mm-dd>` or
    /// `report/link/<name>/<yyyy-mm-dd>`.
    pub fn meta_key(&self, day: Day) -> String {
        let kind = match self {
            Subject::Account(_) => "account",
            Subject::Link(_) => "link",
        };
        format!("report/{kind}/{}/{day}", self.name())
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Account(name) => write!(f, "account {name}"),
            Subject::Link(name) => write!(f, "link {name}"),
        }
    }
}

/// One day's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayFigures {
    pub day: Day,
    pub figures: Figures,
    /// The day can no longer change: its figures are (or are now) kept in meta.
    pub settled: bool,
}

/// The layout of a settled day in meta; a value of another version is computed afresh.
#[derive(Serialize, Deserialize)]
struct Stored {
    version: u8,
    figures: Figures,
}

const STORED_VERSION: u8 = 1;

impl DayFigures {
    /// The meta value: postcard of a version byte and the [`Figures`].
    pub fn encode(&self) -> Result<Vec<u8>, StoreError> {
        postcard::to_stdvec(&Stored {
            version: STORED_VERSION,
            figures: self.figures.clone(),
        })
        .map_err(|e| StoreError::Invalid(format!("report figures: {e}")))
    }

    fn decode(day: Day, bytes: &[u8]) -> Option<Self> {
        let stored: Stored = postcard::from_bytes(bytes).ok()?;
        (stored.version == STORED_VERSION).then_some(DayFigures {
            day,
            figures: stored.figures,
            settled: true,
        })
    }
}

/// A month's figures: each of its days up to now, and their sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthFigures {
    pub month: Month,
    pub days: Vec<DayFigures>,
    pub total: Figures,
}

/// A day's failed parts, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedParts {
    pub records: Vec<MessageRecord>,
    /// More failed parts than the limit: the list stops at the limit.
    pub more: bool,
}

// ---------------------------------------------------------------------------------------
// Reports.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportConfig {
    /// How long after its end a day's records may still change: the longest validity plus
    /// a margin for receipts that come late.
    pub settle_ms: u64,
    /// Records read per page.
    pub page: usize,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self {
            // The default longest validity, 7 days, and one more for late receipts.
            settle_ms: 8 * DAY_MS,
            page: 500,
        }
    }
}

/// The most failed parts or messages one call returns.
pub const MAX_LIST: usize = 10_000;

/// Reports over one store.
pub struct Reports<'s, S: MessageStore + ?Sized> {
    store: &'s S,
    config: ReportConfig,
}

impl<'s, S: MessageStore + ?Sized> Reports<'s, S> {
    pub fn new(store: &'s S, config: ReportConfig) -> Self {
        Self { store, config }
    }

    /// The figures of `day`; `now_ms` decides whether the day is settled. A settled day is
    /// read from meta, or computed and then kept there.
    pub async fn day(
        &self,
        subject: &Subject,
        day: Day,
        now_ms: u64,
    ) -> Result<DayFigures, ReportError> {
        check_name(subject)?;
        let settled = day.end_ms().saturating_add(self.config.settle_ms) <= now_ms;
        let key = subject.meta_key(day);
        if settled {
            if let Some(bytes) = self.store.meta(&key).await? {
                match DayFigures::decode(day, &bytes) {
                    Some(figures) => return Ok(figures),
                    None => {
                        tracing::warn!(%key, "kept report figures unreadable; computing them afresh")
                    }
                }
            }
        }
        let figures = self.compute(subject, day).await?;
        let day_figures = DayFigures {
            day,
            figures,
            settled,
        };
        if settled {
            let value = day_figures.encode()?;
            // Kept for the next report; a failure costs only the recomputation next time.
            if let Err(error) = write_durable(
                self.store,
                vec![WriteOp::PutMeta {
                    key: key.clone(),
                    value,
                }],
            )
            .await
            {
                tracing::warn!(%key, %error, "report figures not kept");
            }
        }
        Ok(day_figures)
    }

    /// Each day of `month` that has begun by `now_ms`, and their sum.
    pub async fn month(
        &self,
        subject: &Subject,
        month: Month,
        now_ms: u64,
    ) -> Result<MonthFigures, ReportError> {
        let mut days = Vec::new();
        let mut total = Figures::default();
        for day in month.days().take_while(|d| d.start_ms() <= now_ms) {
            let figures = self.day(subject, day, now_ms).await?;
            total.add(&figures.figures);
            days.push(figures);
        }
        Ok(MonthFigures { month, days, total })
    }

    /// The parts of `day` that failed, expired or were rejected, oldest first, at most
    /// `limit` (and at most [`MAX_LIST`]).
    pub async fn failed(
        &self,
        subject: &Subject,
        day: Day,
        limit: usize,
    ) -> Result<FailedParts, ReportError> {
        check_name(subject)?;
        let limit = limit.min(MAX_LIST);
        let mut records = Vec::new();
        let mut more = false;
        self.scan(subject, day, |record| {
            if is_failure(record.state) {
                if records.len() < limit {
                    records.push(record);
                } else {
                    more = true;
                    return false;
                }
            }
            true
        })
        .await?;
        Ok(FailedParts { records, more })
    }

    /// Every part of message `id`, each with its whole history; empty when there is none.
    pub async fn history(&self, id: MessageId) -> Result<Vec<MessageRecord>, ReportError> {
        Ok(self.store.message_parts(id).await?)
    }

    /// The messages of `account` the customer gave the reference `client_ref`, newest first,
    /// at most `limit`, each as [`Self::history`] gives it.
    pub async fn history_by_ref(
        &self,
        account: &str,
        client_ref: &str,
        limit: usize,
    ) -> Result<Vec<Vec<MessageRecord>>, ReportError> {
        let ids = self
            .store
            .messages_by_client_ref(account, client_ref, limit.min(MAX_LIST))
            .await?;
        let mut messages = Vec::with_capacity(ids.len());
        for id in ids {
            let parts = self.store.message_parts(id).await?;
            if !parts.is_empty() {
                messages.push(parts);
            }
        }
        Ok(messages)
    }

    async fn compute(&self, subject: &Subject, day: Day) -> Result<Figures, ReportError> {
        let mut figures = Figures::default();
        self.scan(subject, day, |record| {
            figures.count(&record);
            true
        })
        .await?;
        Ok(figures)
    }

    /// Calls `each` with every record of `day`, oldest first, one page in memory at a
    /// time, until it returns false.
    async fn scan(
        &self,
        subject: &Subject,
        day: Day,
        mut each: impl FnMut(MessageRecord) -> bool,
    ) -> Result<(), ReportError> {
        let page = self.config.page.max(1);
        let (from_ms, to_ms) = (day.start_ms(), day.end_ms());
        let mut after: Option<CdrCursor> = None;
        loop {
            let records = match subject {
                Subject::Account(name) => {
                    self.store
                        .messages_by_account(name, after, from_ms, to_ms, page)
                        .await?
                }
                Subject::Link(name) => {
                    self.store
                        .messages_by_link(name, after, from_ms, to_ms, page)
                        .await?
                }
            };
            let last = records.len() < page;
            after = records.last().map(|r| (r.accepted_ms, r.id, r.part));
            for record in records {
                if !each(record) {
                    return Ok(());
                }
            }
            if last || after.is_none() {
                return Ok(());
            }
        }
    }
}

/// An empty name would report on nothing and key the meta space oddly.
fn check_name(subject: &Subject) -> Result<(), ReportError> {
    if subject.name().is_empty() {
        return Err(ReportError::Invalid(format!(
            "{subject}: the name is empty"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_print_and_bound_their_milliseconds() {
        let day = Day::parse("2026-03-01").unwrap();
        assert_eq!(day.to_string(), "2026-03-01");
        assert_eq!(day.start_ms(), 1_772_323_200_000);
        assert_eq!(day.end_ms(), day.start_ms() + DAY_MS);
        assert_eq!(Day::of_ms(day.start_ms()), day);
        assert_eq!(Day::of_ms(day.end_ms() - 1), day);
        assert_eq!(Day::of_ms(0).to_string(), "1970-01-01");
        assert_eq!(
            Day::parse("2024-02-29").unwrap().month().to_string(),
            "2024-02"
        );
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-1-01",
            "26-01-01",
            "2026-01-01T00:00:00Z",
            "1969-12-31",
            "+202-01-01",
            "",
        ] {
            assert!(Day::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn months_hold_their_days() {
        let days: Vec<String> = Month::parse("2024-02")
            .unwrap()
            .days()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(days.len(), 29);
        assert_eq!(days[0], "2024-02-01");
        assert_eq!(days[28], "2024-02-29");
        assert_eq!(Month::parse("2025-12").unwrap().days().count(), 31);
        for bad in ["2025-13", "2025-1", "2025", "2025-01-01", "1969-12"] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }

    /// The nearest-rank value of `values` (sorted).
    fn nearest_rank(values: &[u64], q: f64) -> u64 {
        let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
        values[rank - 1]
    }

    #[test]
    fn quantiles_are_within_a_bucket_of_the_exact_value() {
        let mut times = DeliveryTimes::default();
        let mut values: Vec<u64> = (0..5000u64).map(|i| (i * 7919) % 600_000).collect();
        for v in &values {
            times.record(*v);
        }
        values.sort_unstable();
        for q in [0.5, 0.9, 0.95, 0.99, 1.0] {
            let exact = nearest_rank(&values, q);
            let read = times.quantile_ms(q).unwrap();
            assert!(
                read >= exact && read <= exact + exact / 128,
                "q {q}: {read} vs {exact}"
            );
        }
        assert_eq!(times.average_ms(), Some(values.iter().sum::<u64>() / 5000));
        assert_eq!(DeliveryTimes::default().p95_ms(), None);
        // Small values are exact.
        let mut small = DeliveryTimes::default();
        for v in [3, 9, 200] {
            small.record(v);
        }
        assert_eq!(small.quantile_ms(0.5), Some(9));
        assert_eq!(small.quantile_ms(1.0), Some(200));
    }

    #[test]
    fn reasons_past_the_bound_count_as_other() {
        let mut reasons = Reasons::default();
        for i in 0..100 {
            reasons.count(&format!("reason {i}"), 1);
        }
        reasons.count("reason 0", 5);
        assert_eq!(reasons.total(), 105);
        assert_eq!(reasons.get("reason 0"), 6);
        assert_eq!(reasons.get(OTHER_REASON), 100 - (MAX_REASONS as u64 - 1));
        assert_eq!(reasons.top(1), vec![(OTHER_REASON.to_owned(), 37)]);
    }
}
