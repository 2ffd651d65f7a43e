//! The reports of the admin API: traffic of every account on a day, an account's or a
//! link's day or month, the failed parts of a day and a message's whole history. The
//! figures come from `tern_storage::report`, over the store the node's [`NodeOps`] hands
//! out, so they are the same on every backend; this module only picks the subjects (the
//! accounts of the replicated state for traffic) and turns figures into messages.
//!
//! [`NodeOps`]: super::NodeOps

use futures::{StreamExt, TryStreamExt};
use tern_model::MessageId;
use tern_storage::report::{self, Day, DayFigures, Figures, Month, ReportError, Reports, Subject};
use tern_storage::MessageRecord;
use tonic::Status;

use super::service::AdminService;
use super::{now_ms, proto, ReportSource};

/// Reasons per traffic row and per report row when the request says 0.
const TRAFFIC_REASONS: usize = 3;
const REPORT_REASONS: usize = 5;
/// Accounts whose day is computed at once for the traffic report.
const TRAFFIC_CONCURRENCY: usize = 4;
/// Failed parts listed when the request says 0.
const FAILED_DEFAULT: usize = 100;
/// Messages with one reference listed when the request says 0, and at most.
const HISTORY_DEFAULT: usize = 20;
const HISTORY_MAX: usize = 1000;

fn source(svc: &AdminService) -> Result<ReportSource, Status> {
    svc.ops
        .reports()
        .ok_or_else(|| Status::unimplemented("this node keeps no CDRs to report on"))
}

fn report_status(error: ReportError) -> Status {
    match error {
        ReportError::Invalid(what) => Status::invalid_argument(what),
        ReportError::Store(error) => Status::unavailable(format!("store: {error}")),
    }
}

/// `text` as a day; today (UTC) when empty.
fn day_or_today(text: &str) -> Result<Day, Status> {
    if text.is_empty() {
        return Ok(Day::of_ms(now_ms()));
    }
    Day::parse(text).map_err(report_status)
}

fn count_or(n: u32, default: usize) -> usize {
    match n {
        0 => default,
        n => usize::try_from(n).unwrap_or(usize::MAX),
    }
}

fn figures(f: &Figures, reasons: usize) -> proto::Figures {
    proto::Figures {
        submitted: f.submitted,
        delivered: f.delivered,
        failed: f.failed,
        expired: f.expired,
        rejected: f.rejected,
        cancelled: f.cancelled,
        pending: f.pending,
        merged: f.merged,
        money: f.money,
        delivery_avg_ms: f.delivery.average_ms(),
        delivery_p95_ms: f.delivery.p95_ms(),
        reasons: f
            .reasons
            .top(reasons)
            .into_iter()
            .map(|(reason, parts)| proto::Reason { reason, parts })
            .collect(),
    }
}

fn row(key: String, day: &DayFigures, reasons: usize) -> proto::ReportRow {
    proto::ReportRow {
        key,
        figures: Some(figures(&day.figures, reasons)),
        settled: day.settled,
    }
}

pub(super) async fn traffic(
    svc: &AdminService,
    req: proto::TrafficRequest,
) -> Result<proto::TrafficReply, Status> {
    let source = source(svc)?;
    let day = day_or_today(&req.day)?;
    let reasons = count_or(req.reasons, TRAFFIC_REASONS);
    let accounts: Vec<String> = svc
        .read(|state| state.accounts.keys().cloned().collect())
        .await?;
    let reports = Reports::new(&*source.store, source.config);
    let now = now_ms();
    let days: Vec<(String, DayFigures)> = futures::stream::iter(accounts)
        .map(|account| {
            let reports = &reports;
            async move {
                let subject = Subject::Account(account.clone());
                reports
                    .day(&subject, day, now)
                    .await
                    .map(|figures| (account, figures))
            }
        })
        .buffered(TRAFFIC_CONCURRENCY)
        .try_collect()
        .await
        .map_err(report_status)?;
    let mut total = Figures::default();
    for (_, figures) in &days {
        total.add(&figures.figures);
    }
    Ok(proto::TrafficReply {
        day: day.to_string(),
        rows: days
            .iter()
            .map(|(account, figures)| row(account.clone(), figures, reasons))
            .collect(),
        total: Some(self::figures(&total, reasons)),
    })
}

pub(super) async fn account_report(
    svc: &AdminService,
    req: proto::ReportRequest,
) -> Result<proto::ReportReply, Status> {
    if req.name.is_empty() {
        return Err(Status::invalid_argument("name: the account is missing"));
    }
    let subject = Subject::Account(req.name.clone());
    period_report(svc, subject, req).await
}

pub(super) async fn link_report(
    svc: &AdminService,
    req: proto::ReportRequest,
) -> Result<proto::ReportReply, Status> {
    if req.name.is_empty() {
        return Err(Status::invalid_argument("name: the link is missing"));
    }
    let subject = Subject::Link(req.name.clone());
    period_report(svc, subject, req).await
}

/// A day, or a month day by day.
async fn period_report(
    svc: &AdminService,
    subject: Subject,
    req: proto::ReportRequest,
) -> Result<proto::ReportReply, Status> {
    let source = source(svc)?;
    let reports = Reports::new(&*source.store, source.config);
    let reasons = count_or(req.reasons, REPORT_REASONS);
    let now = now_ms();
    let (period, days, total) = match (req.day.is_empty(), req.month.is_empty()) {
        (false, true) => {
            let day = Day::parse(&req.day).map_err(report_status)?;
            let figures = reports
                .day(&subject, day, now)
                .await
                .map_err(report_status)?;
            let total = figures.figures.clone();
            (day.to_string(), vec![figures], total)
        }
        (true, false) => {
            let month = Month::parse(&req.month).map_err(report_status)?;
            let figures = reports
                .month(&subject, month, now)
                .await
                .map_err(report_status)?;
            (month.to_string(), figures.days, figures.total)
        }
        _ => {
            return Err(Status::invalid_argument(
                "give a day (YYYY-MM-DD) or a month (YYYY-MM), one of them",
            ))
        }
    };
    Ok(proto::ReportReply {
        name: req.name,
        period,
        days: days
            .iter()
            .map(|d| row(d.day.to_string(), d, reasons))
            .collect(),
        total: Some(figures(&total, reasons)),
    })
}

/// When a part reached its state: the last step into it.
fn reached_at(record: &MessageRecord) -> u64 {
    record
        .history
        .iter()
        .rev()
        .find(|t| t.state == record.state)
        .map_or(record.accepted_ms, |t| t.at_ms)
}

fn failed_part(record: MessageRecord) -> proto::FailedPart {
    proto::FailedPart {
        id: record.id.0,
        part: u32::from(record.part),
        parts: u32::from(record.parts),
        destination: record.message.destination.value.clone(),
        state: record.state.as_str().to_owned(),
        reason: report::reason(&record),
        at_ms: reached_at(&record),
        accepted_ms: record.accepted_ms,
        account: record.account,
        link: record.link,
        route: record.route,
        client_ref: record.client_ref,
    }
}

pub(super) async fn list_failed(
    svc: &AdminService,
    req: proto::ListFailedRequest,
) -> Result<proto::FailedList, Status> {
    let subject = match (req.account.is_empty(), req.link.is_empty()) {
        (false, true) => Subject::Account(req.account),
        (true, false) => Subject::Link(req.link),
        _ => {
            return Err(Status::invalid_argument(
                "give an account or a link, one of them",
            ))
        }
    };
    let source = source(svc)?;
    let day = day_or_today(&req.day)?;
    let limit = count_or(req.limit, FAILED_DEFAULT).min(report::MAX_LIST);
    let failed = Reports::new(&*source.store, source.config)
        .failed(&subject, day, limit)
        .await
        .map_err(report_status)?;
    Ok(proto::FailedList {
        day: day.to_string(),
        parts: failed.records.into_iter().map(failed_part).collect(),
        more: failed.more,
    })
}

fn part_history(record: &MessageRecord) -> proto::PartHistory {
    proto::PartHistory {
        part: u32::from(record.part),
        state: record.state.as_str().to_owned(),
        link: record.link.clone(),
        route: record.route.clone(),
        operator_id: record.operator_id.clone(),
        price: record.price,
        attempts: u32::from(record.attempts),
        reason: report::is_failure(record.state).then(|| report::reason(record)),
        accepted_ms: record.accepted_ms,
        expires_ms: record.expires_ms,
        steps: record
            .history
            .iter()
            .map(|t| proto::Step {
                state: t.state.as_str().to_owned(),
                at_ms: t.at_ms,
                detail: t.detail.clone(),
            })
            .collect(),
    }
}

/// A message from its parts; `None` without parts.
fn history_of(parts: &[MessageRecord]) -> Option<proto::MessageHistory> {
    let first = parts.first()?;
    Some(proto::MessageHistory {
        id: first.id.0,
        account: first.account.clone(),
        source: first.message.source.value.clone(),
        destination: first.message.destination.value.clone(),
        client_ref: first.client_ref.clone(),
        parts: parts.iter().map(part_history).collect(),
    })
}

pub(super) async fn history(
    svc: &AdminService,
    req: proto::MessageHistoryRequest,
) -> Result<proto::MessageHistoryReply, Status> {
    let by_ref = !req.client_ref.is_empty();
    let by_id = req.id != 0;
    let with_account = !req.account.is_empty();
    if by_ref == by_id || by_ref != with_account {
        return Err(Status::invalid_argument(
            "give a message id, or an account and a client reference",
        ));
    }
    let source = source(svc)?;
    let reports = Reports::new(&*source.store, source.config);
    let messages = if by_ref {
        let limit = count_or(req.limit, HISTORY_DEFAULT).min(HISTORY_MAX);
        reports
            .history_by_ref(&req.account, &req.client_ref, limit)
            .await
            .map_err(report_status)?
    } else {
        let parts = reports
            .history(MessageId(req.id))
            .await
            .map_err(report_status)?;
        if parts.is_empty() {
            return Err(super::service::not_found("message", &req.id.to_string()));
        }
        vec![parts]
    };
    Ok(proto::MessageHistoryReply {
        messages: messages
            .iter()
            .filter_map(|parts| history_of(parts))
            .collect(),
    })
}
