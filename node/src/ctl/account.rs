//! `tern ctl account ...`: accounts, their limits, money and usage.

use std::collections::BTreeMap;

use clap::{Args, Subcommand, ValueEnum};

use super::proto;
use super::render;
use super::{Ctl, CtlError};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum PeriodArg {
    Day,
    Month,
}

impl PeriodArg {
    fn name(self) -> String {
        match self {
            PeriodArg::Day => "day",
            PeriodArg::Month => "month",
        }
        .into()
    }
}

/// `key=value`.
pub(crate) fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not key=value")),
    }
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Creates an account.
    Create {
        id: String,
        /// The SMPP password (at most 8 characters); `-` reads it from stdin.
        #[arg(long)]
        password: String,
        /// Opening balance, in minor units. The account is prepaid (its balance never goes
        /// below zero) unless --postpaid or --unmetered says otherwise.
        #[arg(long, default_value_t = 0, conflicts_with = "unmetered")]
        credit: i64,
        /// Message parts per period; unlimited without.
        #[arg(long)]
        max_messages: Option<u64>,
        #[arg(long, value_enum, default_value = "day")]
        period: PeriodArg,
        /// Postpaid: how far below zero the balance may go, in minor units.
        #[arg(
            long = "postpaid",
            visible_alias = "credit-limit",
            value_name = "LIMIT",
            conflicts_with = "unmetered"
        )]
        credit_limit: Option<i64>,
        /// Not metered in money: the balance goes below zero without limit. Refused under
        /// a metered parent, whose money it would spend without asking.
        #[arg(long)]
        unmetered: bool,
        #[arg(long)]
        parent: Option<String>,
        /// A label `key=value`; repeatable.
        #[arg(long = "tag", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
        /// Submits per second per node; unlimited without.
        #[arg(long)]
        tps: Option<u32>,
        /// A network allowed to bind (`10.0.0.0/8`); repeatable; any without.
        #[arg(long = "allow")]
        allowed_ips: Vec<String>,
        /// A sender id allowed (`ACME`, `ACME*`); repeatable; any without.
        #[arg(long = "sender")]
        sender_ids: Vec<String>,
        #[arg(long)]
        max_binds: Option<u32>,
        /// A percentage of use that raises an event; repeatable; 80 and 100 without.
        #[arg(long = "threshold")]
        thresholds: Vec<u32>,
        /// Amount drawn from the parent each time the account runs short.
        #[arg(long)]
        auto_topup: Option<i64>,
        #[arg(long)]
        transliterate: bool,
        /// The CMPP shared secret: the account connects over CMPP with ID as Source_Addr.
        #[arg(long)]
        cmpp_secret: Option<String>,
        /// A shared secret `protocol=secret` (cmpp, sgip, smgp, cngp); repeatable.
        #[arg(long = "secret", value_parser = parse_tag)]
        secrets: Vec<(String, String)>,
    },
    /// Shows an account's settings and ledger.
    Show {
        id: String,
    },
    /// Lists the accounts.
    List {
        /// Only the accounts with this tag (`key=value`, or `key` for any value).
        #[arg(long)]
        tag: Option<String>,
    },
    /// Changes the settings given; the others stay.
    Update(UpdateArgs),
    /// Refuses new binds and submits of an account.
    Disable {
        id: String,
    },
    Enable {
        id: String,
    },
    /// Deletes an account.
    Delete {
        id: String,
    },
    /// Sets the SMPP password (`-` reads it from stdin).
    Password {
        id: String,
        password: String,
    },
    /// Replaces the networks the account may bind from; none allows any address.
    Allow {
        id: String,
        networks: Vec<String>,
    },
    /// Changes limits; the ones not given stay.
    Limits {
        id: String,
        #[command(flatten)]
        limits: LimitsArgs,
    },
    /// Adds money to an account.
    Topup {
        id: String,
        /// Minor units.
        amount: i64,
        /// Move the amount from the parent's balance.
        #[arg(long)]
        from_parent: bool,
    },
    /// Sets where the HTTP API posts the account's reports and MO (`--url`), signed with
    /// `--secret` or with one made by the server and printed once; `--clear` removes it.
    Callback {
        id: String,
        /// An http:// or https:// URL.
        #[arg(long, required_unless_present = "clear", conflicts_with = "clear")]
        url: Option<String>,
        /// The signing secret, 16 to 256 characters; `-` reads it from stdin.
        #[arg(long, conflicts_with = "clear")]
        secret: Option<String>,
        #[arg(long)]
        clear: bool,
    },
    /// Parts and money used by an account and its descendants, or by a tag's accounts.
    Usage {
        #[arg(required_unless_present = "tag", conflicts_with = "tag")]
        id: Option<String>,
        /// `key=value`, or `key` for any value.
        #[arg(long)]
        tag: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    id: String,
    #[arg(long)]
    max_binds: Option<u32>,
    /// Replaces the allowed networks; repeatable.
    #[arg(long = "allow", conflicts_with = "allow_any")]
    allowed_ips: Vec<String>,
    /// Allows binds from any address.
    #[arg(long)]
    allow_any: bool,
    /// Replaces the allowed sender ids; repeatable.
    #[arg(long = "sender", conflicts_with = "any_sender")]
    sender_ids: Vec<String>,
    #[arg(long)]
    any_sender: bool,
    #[arg(long)]
    transliterate: Option<bool>,
    #[arg(long, conflicts_with = "no_parent")]
    parent: Option<String>,
    #[arg(long)]
    no_parent: bool,
    /// Sets a label `key=value`; repeatable.
    #[arg(long = "tag", value_parser = parse_tag)]
    tags: Vec<(String, String)>,
    /// Removes a label; repeatable.
    #[arg(long = "untag")]
    untags: Vec<String>,
    /// Sets a shared secret `protocol=secret` (cmpp, sgip, smgp, cngp); repeatable.
    #[arg(long = "secret", value_parser = parse_tag)]
    secrets: Vec<(String, String)>,
    /// Removes a protocol's shared secret; repeatable.
    #[arg(long = "remove-secret")]
    remove_secrets: Vec<String>,
    #[command(flatten)]
    limits: LimitsArgs,
}

#[derive(Debug, Args)]
pub struct LimitsArgs {
    /// Postpaid: how far below zero the balance may go, in minor units.
    #[arg(
        long = "postpaid",
        visible_alias = "credit-limit",
        value_name = "LIMIT",
        conflicts_with_all = ["no_credit_limit", "prepaid"]
    )]
    credit_limit: Option<i64>,
    /// Prepaid: the balance never goes below zero.
    #[arg(long, conflicts_with = "no_credit_limit")]
    prepaid: bool,
    /// Stops metering the account in money (refused under a metered parent).
    #[arg(long = "unmetered", visible_alias = "no-credit-limit")]
    no_credit_limit: bool,
    #[arg(long, conflicts_with = "unlimited_messages")]
    max_messages: Option<u64>,
    #[arg(long)]
    unlimited_messages: bool,
    #[arg(long, value_enum)]
    period: Option<PeriodArg>,
    #[arg(long, conflicts_with = "unlimited_tps")]
    tps: Option<u32>,
    #[arg(long)]
    unlimited_tps: bool,
    #[arg(long, conflicts_with = "no_auto_topup")]
    auto_topup: Option<i64>,
    #[arg(long)]
    no_auto_topup: bool,
    /// Replaces the thresholds; repeatable.
    #[arg(long = "threshold")]
    thresholds: Vec<u32>,
}

impl LimitsArgs {
    fn patch(self) -> Option<proto::LimitsPatch> {
        let patch = proto::LimitsPatch {
            credit_limit: self.credit_limit.or(self.prepaid.then_some(0)),
            clear_credit_limit: self.no_credit_limit,
            max_messages: self.max_messages,
            clear_max_messages: self.unlimited_messages,
            period: self.period.map(PeriodArg::name),
            tps: self.tps,
            clear_tps: self.unlimited_tps,
            auto_topup: self.auto_topup,
            clear_auto_topup: self.no_auto_topup,
            thresholds: (!self.thresholds.is_empty()).then_some(proto::ThresholdList {
                percents: self.thresholds,
            }),
        };
        (patch != proto::LimitsPatch::default()).then_some(patch)
    }
}

/// The password given, or a line of stdin for `-` (kept out of the process list).
fn password(given: String) -> Result<String, CtlError> {
    given_or_stdin(given, "password")
}

/// `given`, or a line of stdin for `-`.
fn given_or_stdin(given: String, what: &str) -> Result<String, CtlError> {
    if given != "-" {
        return Ok(given);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| CtlError::Other(format!("reading the {what} from stdin: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn update_request(args: UpdateArgs) -> proto::UpdateAccountRequest {
    let list = |values: Vec<String>, clear: bool| {
        (clear || !values.is_empty()).then_some(proto::StringList { values })
    };
    proto::UpdateAccountRequest {
        id: args.id,
        max_binds: args.max_binds,
        allowed_ips: list(args.allowed_ips, args.allow_any),
        sender_ids: list(args.sender_ids, args.any_sender),
        transliterate: args.transliterate,
        parent: if args.no_parent {
            Some(String::new())
        } else {
            args.parent
        },
        set_tags: args.tags.into_iter().collect(),
        remove_tags: args.untags,
        limits: args.limits.patch(),
        set_secrets: args.secrets.into_iter().collect(),
        remove_secrets: args.remove_secrets,
    }
}

pub(crate) async fn run(ctl: &Ctl, command: AccountCommand) -> Result<(), CtlError> {
    let mut client = ctl.client();
    let account = match command {
        AccountCommand::Create {
            id,
            password: given,
            credit,
            max_messages,
            period,
            credit_limit,
            unmetered,
            parent,
            tags,
            tps,
            allowed_ips,
            sender_ids,
            max_binds,
            thresholds,
            auto_topup,
            transliterate,
            cmpp_secret,
            secrets,
        } => {
            let request = proto::CreateAccountRequest {
                id,
                password: password(given)?,
                credit,
                max_messages,
                period: period.name(),
                credit_limit,
                max_binds,
                allowed_ips,
                sender_ids,
                tps,
                parent,
                tags: tags.into_iter().collect::<BTreeMap<_, _>>(),
                thresholds,
                auto_topup,
                transliterate,
                cmpp_secret,
                unmetered,
                secrets: secrets.into_iter().collect(),
            };
            client.create_account(ctl.req(request)).await?
        }
        AccountCommand::Show { id } => {
            client
                .get_account(ctl.req(proto::AccountRef { id }))
                .await?
        }
        AccountCommand::List { tag } => {
            let request = proto::ListAccountsRequest {
                tag: tag.unwrap_or_default(),
            };
            let list = client.list_accounts(ctl.req(request)).await?.into_inner();
            return ctl.show(&list, render::accounts);
        }
        AccountCommand::Update(args) => {
            client.update_account(ctl.req(update_request(args))).await?
        }
        AccountCommand::Disable { id } => {
            client
                .disable_account(ctl.req(proto::AccountRef { id }))
                .await?
        }
        AccountCommand::Enable { id } => {
            client
                .enable_account(ctl.req(proto::AccountRef { id }))
                .await?
        }
        AccountCommand::Delete { id } => {
            client
                .delete_account(ctl.req(proto::AccountRef { id }))
                .await?;
            return ctl.done();
        }
        AccountCommand::Password {
            id,
            password: given,
        } => {
            let request = proto::SetPasswordRequest {
                id,
                password: password(given)?,
            };
            client.set_password(ctl.req(request)).await?
        }
        AccountCommand::Allow { id, networks } => {
            let request = proto::SetAllowlistRequest {
                id,
                allowed_ips: networks,
            };
            client.set_allowlist(ctl.req(request)).await?
        }
        AccountCommand::Limits { id, limits } => {
            let Some(patch) = limits.patch() else {
                return Err(CtlError::Usage("no limit given to change".into()));
            };
            let request = proto::SetLimitsRequest {
                id,
                limits: Some(patch),
            };
            client.set_limits(ctl.req(request)).await?
        }
        AccountCommand::Topup {
            id,
            amount,
            from_parent,
        } => {
            let request = proto::TopUpRequest {
                id,
                amount,
                from_parent,
            };
            client.top_up(ctl.req(request)).await?
        }
        AccountCommand::Callback {
            id,
            url,
            secret,
            clear,
        } => {
            let request = proto::SetCallbackRequest {
                account: id,
                url: url.unwrap_or_default(),
                secret: secret
                    .map(|given| given_or_stdin(given, "secret"))
                    .transpose()?,
                clear,
            };
            let reply = client.set_callback(ctl.req(request)).await?.into_inner();
            return ctl.show(&reply, render::callback);
        }
        AccountCommand::Usage { id, tag } => {
            let request = proto::UsageRequest {
                account: id.unwrap_or_default(),
                tag: tag.unwrap_or_default(),
            };
            let usage = client.usage(ctl.req(request)).await?.into_inner();
            return ctl.show(&usage, render::usage);
        }
    };
    ctl.show(&account.into_inner(), render::account)
}
