//! `tern ctl report ...`: the reports made from the CDRs. Days are `YYYY-MM-DD` and months
//! `YYYY-MM`, both UTC. Tables for people, `--json` for scripts, and `--csv` for the
//! figures (traffic, account and link) to load into a spreadsheet.

use clap::{Args, Subcommand};
use tern_storage::report::{Day, Month};

use super::proto;
use super::table::{pairs, Table};
use super::time::format_time;
use super::{Ctl, CtlError};

/// A day as the reports take it; checked here so a typo exits before any call.
fn parse_day(text: &str) -> Result<String, String> {
    Day::parse(text)
        .map(|d| d.to_string())
        .map_err(|e| e.to_string())
}

fn parse_month(text: &str) -> Result<String, String> {
    Month::parse(text)
        .map(|m| m.to_string())
        .map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Period {
    /// A day, YYYY-MM-DD (UTC).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    day: Option<String>,
    /// A month, YYYY-MM (UTC): one row per day begun so far, and the total.
    #[arg(long, value_name = "YYYY-MM", value_parser = parse_month)]
    month: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Every account's message parts on a day (UTC): submitted, delivered, failed,
    /// expired, rejected, cancelled, pending, money and delivery times.
    Traffic {
        /// YYYY-MM-DD (UTC); today without.
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
        day: Option<String>,
        /// Comma-separated values, one line per account, instead of the table.
        #[arg(long)]
        csv: bool,
    },
    /// An account's figures for a day or a month (UTC), with the reasons parts failed.
    Account {
        /// The account.
        name: String,
        #[command(flatten)]
        period: Period,
        /// Comma-separated values, one line per day, instead of the table.
        #[arg(long)]
        csv: bool,
    },
    /// The figures of the parts sent over a link, for a day or a month (UTC).
    Link {
        /// The link (`[[upstream]]` name).
        name: String,
        #[command(flatten)]
        period: Period,
        /// Comma-separated values, one line per day, instead of the table.
        #[arg(long)]
        csv: bool,
    },
    /// The parts of an account or a link that failed, expired or were rejected on a day
    /// (UTC), oldest first, with the reason of each.
    Failed {
        /// The parts of this account ...
        #[arg(long, required_unless_present = "link", conflicts_with = "link")]
        account: Option<String>,
        /// ... or those last sent over this link.
        #[arg(long)]
        link: Option<String>,
        /// YYYY-MM-DD (UTC); today without.
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
        day: Option<String>,
        /// At most this many parts (up to 10000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// A message's parts with every step of their life, by id, or by the reference the
    /// customer gave it (`--ref REF --account A`: every message of A with it, newest first).
    Message {
        /// The message id the customer was given.
        #[arg(required_unless_present = "client_ref", conflicts_with = "client_ref")]
        id: Option<u64>,
        /// The customer's own reference (SMPP user_message_reference).
        #[arg(long = "ref", value_name = "REF", requires = "account")]
        client_ref: Option<String>,
        /// The account whose reference it is.
        #[arg(long, requires = "client_ref")]
        account: Option<String>,
        /// At most this many messages with the reference.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

pub(crate) async fn run(ctl: &Ctl, command: ReportCommand) -> Result<(), CtlError> {
    let mut client = ctl.client();
    match command {
        ReportCommand::Traffic { day, csv } => {
            check_csv(ctl, csv)?;
            let request = proto::TrafficRequest {
                day: day.unwrap_or_default(),
                reasons: 0,
            };
            let reply = client.traffic(ctl.req(request)).await?.into_inner();
            ctl.show(&reply, |r| if csv { traffic_csv(r) } else { traffic(r) })
        }
        ReportCommand::Account { name, period, csv } => {
            check_csv(ctl, csv)?;
            let reply = client
                .account_report(ctl.req(report_request(name, period)))
                .await?
                .into_inner();
            ctl.show(&reply, |r| render_report(r, "account", csv))
        }
        ReportCommand::Link { name, period, csv } => {
            check_csv(ctl, csv)?;
            let reply = client
                .link_report(ctl.req(report_request(name, period)))
                .await?
                .into_inner();
            ctl.show(&reply, |r| render_report(r, "link", csv))
        }
        ReportCommand::Failed {
            account,
            link,
            day,
            limit,
        } => {
            let request = proto::ListFailedRequest {
                account: account.unwrap_or_default(),
                link: link.unwrap_or_default(),
                day: day.unwrap_or_default(),
                limit,
            };
            let reply = client.list_failed(ctl.req(request)).await?.into_inner();
            ctl.show(&reply, failed)
        }
        ReportCommand::Message {
            id,
            client_ref,
            account,
            limit,
        } => {
            let request = proto::MessageHistoryRequest {
                id: id.unwrap_or_default(),
                account: account.unwrap_or_default(),
                client_ref: client_ref.unwrap_or_default(),
                limit,
            };
            let reply = client.message_history(ctl.req(request)).await?.into_inner();
            ctl.show(&reply, histories)
        }
    }
}

fn check_csv(ctl: &Ctl, csv: bool) -> Result<(), CtlError> {
    if csv && ctl.json {
        return Err(CtlError::Usage("--csv and --json: one of them".into()));
    }
    Ok(())
}

fn report_request(name: String, period: Period) -> proto::ReportRequest {
    proto::ReportRequest {
        name,
        day: period.day.unwrap_or_default(),
        month: period.month.unwrap_or_default(),
        reasons: 0,
    }
}

fn render_report(reply: &proto::ReportReply, kind: &str, csv: bool) -> String {
    if csv {
        report_csv(reply, kind)
    } else {
        report(reply, kind)
    }
}

// ---------------------------------------------------------------------------------------
// Text.

/// ms as people read a delay: `850ms`, `12.3s`, `4m05s`, `2h10m`; `-` for none.
fn delay(ms: Option<u64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms < 1000 => format!("{ms}ms"),
        Some(ms) if ms < 60_000 => format!("{}.{}s", ms / 1000, ms % 1000 / 100),
        Some(ms) if ms < 3_600_000 => format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000),
        Some(ms) => format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

const FIGURE_COLUMNS: [&str; 11] = [
    "SUBMITTED",
    "DELIVERED",
    "FAILED",
    "EXPIRED",
    "REJECTED",
    "CANCELLED",
    "PENDING",
    "MERGED",
    "MONEY",
    "AVG DELIVERY",
    "P95 DELIVERY",
];

fn figure_cells(f: Option<&proto::Figures>) -> Vec<String> {
    let f = f.cloned().unwrap_or_default();
    vec![
        f.submitted.to_string(),
        f.delivered.to_string(),
        f.failed.to_string(),
        f.expired.to_string(),
        f.rejected.to_string(),
        f.cancelled.to_string(),
        f.pending.to_string(),
        f.merged.to_string(),
        f.money.to_string(),
        delay(f.delivery_avg_ms),
        delay(f.delivery_p95_ms),
    ]
}

fn figures_table(first: &str, rows: &[proto::ReportRow], total: Option<&proto::Figures>) -> Table {
    let mut header = vec![first];
    header.extend(FIGURE_COLUMNS);
    header.push("FINAL");
    let mut table = Table::new(&header);
    for row in rows {
        let mut cells = vec![row.key.clone()];
        cells.extend(figure_cells(row.figures.as_ref()));
        cells.push(if row.settled { "yes" } else { "no" }.into());
        table.row(cells);
    }
    let mut cells = vec!["total".to_owned()];
    cells.extend(figure_cells(total));
    table.row(cells);
    table
}

fn reasons(f: Option<&proto::Figures>) -> String {
    let Some(f) = f.filter(|f| !f.reasons.is_empty()) else {
        return String::new();
    };
    let mut table = Table::new(&["REASON", "PARTS"]);
    for r in &f.reasons {
        table.row(vec![r.reason.clone(), r.parts.to_string()]);
    }
    format!("\n{}", table.render())
}

fn traffic(reply: &proto::TrafficReply) -> String {
    let mut out = format!("traffic on {} (UTC)\n", reply.day);
    out.push_str(&figures_table("ACCOUNT", &reply.rows, reply.total.as_ref()).render());
    out.push_str(&reasons(reply.total.as_ref()));
    out
}

fn report(reply: &proto::ReportReply, kind: &str) -> String {
    let mut out = format!("{kind} {}, {} (UTC)\n", reply.name, reply.period);
    out.push_str(&figures_table("DAY", &reply.days, reply.total.as_ref()).render());
    out.push_str(&reasons(reply.total.as_ref()));
    out
}

fn or_dash(value: Option<&String>) -> String {
    value.cloned().unwrap_or_else(|| "-".into())
}

fn failed(reply: &proto::FailedList) -> String {
    let mut table = Table::new(&[
        "ID",
        "PART",
        "ACCOUNT",
        "DESTINATION",
        "LINK",
        "STATE",
        "AT",
        "REASON",
    ]);
    for p in &reply.parts {
        table.row(vec![
            p.id.to_string(),
            format!("{}/{}", p.part + 1, p.parts),
            p.account.clone(),
            p.destination.clone(),
            or_dash(p.link.as_ref()),
            p.state.clone(),
            format_time(p.at_ms),
            p.reason.clone(),
        ]);
    }
    let mut out = table.render();
    if reply.more {
        out.push_str("(more than the limit: raise --limit)\n");
    }
    out
}

fn histories(reply: &proto::MessageHistoryReply) -> String {
    reply
        .messages
        .iter()
        .map(history)
        .collect::<Vec<_>>()
        .join("\n")
}

fn history(m: &proto::MessageHistory) -> String {
    let mut out = pairs(&[
        ("message", m.id.to_string()),
        ("account", m.account.clone()),
        ("source", m.source.clone()),
        ("destination", m.destination.clone()),
        ("reference", or_dash(m.client_ref.as_ref())),
    ]);
    for p in &m.parts {
        out.push('\n');
        out.push_str(&pairs(&[
            ("part", format!("{}/{}", p.part + 1, m.parts.len())),
            ("state", p.state.clone()),
            ("reason", or_dash(p.reason.as_ref())),
            ("link", or_dash(p.link.as_ref())),
            ("route", or_dash(p.route.as_ref())),
            ("operator id", or_dash(p.operator_id.as_ref())),
            ("price", p.price.to_string()),
            ("attempts", p.attempts.to_string()),
            ("expires", format_time(p.expires_ms)),
        ]));
        let mut steps = Table::new(&["AT", "STATE", "DETAIL"]);
        for s in &p.steps {
            steps.row(vec![
                format_time(s.at_ms),
                s.state.clone(),
                s.detail.clone(),
            ]);
        }
        out.push_str(&steps.render());
    }
    out
}

// ---------------------------------------------------------------------------------------
// CSV (RFC 4180).

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

const CSV_FIGURES: &str = "submitted,delivered,failed,expired,rejected,cancelled,pending,merged,money,delivery_avg_ms,delivery_p95_ms";

fn csv_figures(f: Option<&proto::Figures>) -> String {
    let f = f.cloned().unwrap_or_default();
    let ms = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    format!(
        "{},{},{},{},{},{},{},{},{},{},{}",
        f.submitted,
        f.delivered,
        f.failed,
        f.expired,
        f.rejected,
        f.cancelled,
        f.pending,
        f.merged,
        f.money,
        ms(f.delivery_avg_ms),
        ms(f.delivery_p95_ms)
    )
}

fn traffic_csv(reply: &proto::TrafficReply) -> String {
    let mut out = format!("day,account,{CSV_FIGURES},final\n");
    for row in &reply.rows {
        out.push_str(&format!(
            "{},{},{},{}\n",
            reply.day,
            csv_field(&row.key),
            csv_figures(row.figures.as_ref()),
            row.settled
        ));
    }
    out
}

fn report_csv(reply: &proto::ReportReply, kind: &str) -> String {
    let mut out = format!("{kind},day,{CSV_FIGURES},final\n");
    for row in &reply.days {
        out.push_str(&format!(
            "{},{},{},{}\n",
            csv_field(&reply.name),
            row.key,
            csv_figures(row.figures.as_ref()),
            row.settled
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_read_in_their_unit() {
        assert_eq!(delay(None), "-");
        assert_eq!(delay(Some(850)), "850ms");
        assert_eq!(delay(Some(12_345)), "12.3s");
        assert_eq!(delay(Some(245_000)), "4m05s");
        assert_eq!(delay(Some(7_800_000)), "2h10m");
    }

    #[test]
    fn csv_fields_with_separators_are_quoted() {
        assert_eq!(csv_field("acme"), "acme");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
