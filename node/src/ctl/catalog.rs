//! `tern ctl price|campaign|route|link ...`: the replicated configuration besides
//! accounts.

use std::path::PathBuf;

use clap::Subcommand;
use serde::Deserialize;

use super::proto;
use super::render;
use super::time::{parse_duration, parse_time};
use super::{Ctl, CtlError};

#[derive(Debug, Subcommand)]
pub enum PriceCommand {
    /// Sets one price (kept with the others), or with --file replaces every price.
    Set {
        /// Minor units per message part.
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        per_part: Option<i64>,
        /// Only for this account; every account without.
        #[arg(long)]
        account: Option<String>,
        /// Only on this route; every route without.
        #[arg(long)]
        route: Option<String>,
        /// Destination prefix (digits); every number without.
        #[arg(long, default_value = "")]
        prefix: String,
        /// A TOML file of `[[price]]` tables (account, route, prefix, per_part).
        #[arg(long, conflicts_with_all = ["account", "route", "prefix"])]
        file: Option<PathBuf>,
    },
    /// Lists the prices.
    List,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    #[serde(default)]
    price: Vec<PriceEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceEntry {
    account: Option<String>,
    route: Option<String>,
    #[serde(default)]
    prefix: String,
    per_part: i64,
}

fn read(path: &PathBuf) -> Result<String, CtlError> {
    std::fs::read_to_string(path).map_err(|e| CtlError::Other(format!("{}: {e}", path.display())))
}

fn price_file(path: &PathBuf) -> Result<Vec<proto::Price>, CtlError> {
    let file: PriceFile = toml::from_str(&read(path)?)
        .map_err(|e| CtlError::Other(format!("{}: {}", path.display(), e.message())))?;
    Ok(file
        .price
        .into_iter()
        .map(|p| proto::Price {
            account: p.account,
            route: p.route,
            prefix: p.prefix,
            per_part: p.per_part,
        })
        .collect())
}

pub(crate) async fn price(ctl: &Ctl, command: PriceCommand) -> Result<(), CtlError> {
    let mut client = ctl.client();
    let list = match command {
        PriceCommand::Set {
            per_part,
            account,
            route,
            prefix,
            file,
        } => {
            let request = match (file, per_part) {
                (Some(path), _) => proto::SetPricesRequest {
                    prices: price_file(&path)?,
                    merge: false,
                },
                (None, Some(per_part)) => proto::SetPricesRequest {
                    prices: vec![proto::Price {
                        account,
                        route,
                        prefix,
                        per_part,
                    }],
                    merge: true,
                },
                (None, None) => return Err(CtlError::Usage("give PER_PART or --file".into())),
            };
            client.set_prices(ctl.req(request)).await?
        }
        PriceCommand::List => client.list_prices(ctl.req(proto::Empty {})).await?,
    };
    ctl.show(&list.into_inner(), render::prices)
}

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Reserves parts and money of an account for a send.
    Book {
        id: String,
        #[arg(long)]
        account: String,
        /// When the send starts: ms since the epoch or YYYY-MM-DDTHH:MM:SSZ.
        #[arg(long, value_parser = parse_time)]
        at: u64,
        /// How long the booking stays reserved after --at (`2h`, `30m`, ms).
        #[arg(long, value_parser = parse_duration, default_value = "1h")]
        window: u64,
        #[arg(long)]
        parts: u64,
        /// Money, in minor units.
        #[arg(long, default_value_t = 0)]
        amount: i64,
        /// How much the booking may grow later, in percent.
        #[arg(long, default_value_t = 0)]
        tolerance: u32,
    },
    /// Changes a booking's size, within its tolerance.
    Resize {
        id: String,
        #[arg(long)]
        parts: u64,
        #[arg(long, default_value_t = 0)]
        amount: i64,
    },
    /// Cancels a booking and frees what it reserved.
    Cancel { id: String },
    /// Lists the bookings.
    List {
        #[arg(long)]
        account: Option<String>,
    },
}

pub(crate) async fn campaign(ctl: &Ctl, command: CampaignCommand) -> Result<(), CtlError> {
    let mut client = ctl.client();
    let booked = match command {
        CampaignCommand::Book {
            id,
            account,
            at,
            window,
            parts,
            amount,
            tolerance,
        } => {
            let request = proto::BookCampaignRequest {
                id,
                account,
                send_at_ms: at,
                window_ms: window,
                parts,
                amount,
                tolerance_pct: tolerance,
            };
            client.book_campaign(ctl.req(request)).await?
        }
        CampaignCommand::Resize { id, parts, amount } => {
            let request = proto::ResizeCampaignRequest { id, parts, amount };
            client.resize_campaign(ctl.req(request)).await?
        }
        CampaignCommand::Cancel { id } => {
            client
                .cancel_campaign(ctl.req(proto::NameRef { name: id }))
                .await?;
            return ctl.done();
        }
        CampaignCommand::List { account } => {
            let request = proto::ListCampaignsRequest {
                account: account.unwrap_or_default(),
            };
            let list = client.list_campaigns(ctl.req(request)).await?.into_inner();
            return ctl.show(&list, render::campaigns);
        }
    };
    ctl.show(&booked.into_inner(), render::campaign)
}

#[derive(Debug, Subcommand)]
pub enum SpecCommand {
    /// Adds or replaces one from a TOML file holding one table.
    Put {
        #[arg(long)]
        file: PathBuf,
        /// Store it disabled.
        #[arg(long)]
        disabled: bool,
    },
    Enable {
        name: String,
    },
    Disable {
        name: String,
    },
    Delete {
        name: String,
    },
    List,
    /// Shows one: its table, and for a link the owners of its binds.
    Show {
        name: String,
    },
}

pub(crate) async fn route(ctl: &Ctl, command: SpecCommand) -> Result<(), CtlError> {
    let mut client = ctl.client();
    let spec = match command {
        SpecCommand::Put { file, disabled } => {
            let request = proto::PutSpecRequest {
                toml: read(&file)?,
                enabled: !disabled,
            };
            client.put_route(ctl.req(request)).await?
        }
        SpecCommand::Enable { name } => {
            client
                .enable_route(ctl.req(proto::NameRef { name }))
                .await?
        }
        SpecCommand::Disable { name } => {
            client
                .disable_route(ctl.req(proto::NameRef { name }))
                .await?
        }
        SpecCommand::Delete { name } => {
            client
                .delete_route(ctl.req(proto::NameRef { name }))
                .await?;
            return ctl.done();
        }
        SpecCommand::List => {
            let list = client.list_routes(ctl.req(proto::Empty {})).await?;
            return ctl.show(&list.into_inner(), render::specs);
        }
        SpecCommand::Show { name } => {
            let list = client.list_routes(ctl.req(proto::Empty {})).await?;
            let route = list
                .into_inner()
                .specs
                .into_iter()
                .find(|s| s.name == name)
                .ok_or_else(|| CtlError::Other(format!("route {name} not found")))?;
            return ctl.show(&route, render::route);
        }
    };
    ctl.show(&spec.into_inner(), render::spec)
}

pub(crate) async fn link(ctl: &Ctl, command: SpecCommand) -> Result<(), CtlError> {
    let mut client = ctl.client();
    let spec = match command {
        SpecCommand::Put { file, disabled } => {
            let request = proto::PutSpecRequest {
                toml: read(&file)?,
                enabled: !disabled,
            };
            client.put_link(ctl.req(request)).await?
        }
        SpecCommand::Enable { name } => {
            client.enable_link(ctl.req(proto::NameRef { name })).await?
        }
        SpecCommand::Disable { name } => {
            client
                .disable_link(ctl.req(proto::NameRef { name }))
                .await?
        }
        SpecCommand::Delete { name } => {
            client.delete_link(ctl.req(proto::NameRef { name })).await?;
            return ctl.done();
        }
        SpecCommand::List => {
            let list = client.list_links(ctl.req(proto::Empty {})).await?;
            return ctl.show(&list.into_inner(), render::links);
        }
        SpecCommand::Show { name } => {
            let list = client.list_links(ctl.req(proto::Empty {})).await?;
            let link = list
                .into_inner()
                .links
                .into_iter()
                .find(|l| l.name == name)
                .ok_or_else(|| CtlError::Other(format!("link {name} not found")))?;
            return ctl.show(&link, render::link);
        }
    };
    ctl.show(&spec.into_inner(), render::spec)
}
