//! Prices, campaign bookings, routes, carrier links and webhooks: the replicated
//! configuration besides accounts. Route and link tables are checked by the node (the
//! same checks as the configuration file) before they are proposed, so a table that
//! would not load never reaches the log.

use std::collections::HashSet;

use tern_ledger::{Command, Spec, State, Webhook};
use tonic::Status;

use super::convert;
use super::proto;
use super::service::{not_found, AdminService};

pub(super) async fn set_prices(
    svc: &AdminService,
    req: proto::SetPricesRequest,
) -> Result<proto::PriceList, Status> {
    let given = req
        .prices
        .into_iter()
        .map(convert::price_from)
        .collect::<Result<Vec<_>, _>>()?;
    check_price_targets(svc, &given).await?;
    let prices = if req.merge {
        let mut prices = svc.read(|state| state.prices.clone()).await?;
        for price in given {
            let same = |p: &tern_ledger::Price| {
                p.account == price.account && p.route == price.route && p.prefix == price.prefix
            };
            match prices.iter_mut().find(|p| same(p)) {
                Some(existing) => *existing = price,
                None => prices.push(price),
            }
        }
        prices
    } else {
        given
    };
    let what = format!("SetPrices {} prices", prices.len());
    svc.change(what, Command::SetPrices { prices }).await?;
    list_prices(svc, proto::Empty {}).await
}

/// A price for an account or a route that does not exist would never apply: refused,
/// naming the entry. `default` is the route every destination takes when there is none.
async fn check_price_targets(
    svc: &AdminService,
    prices: &[tern_ledger::Price],
) -> Result<(), Status> {
    let unknown = svc
        .read(|state| {
            prices.iter().enumerate().find_map(|(i, price)| {
                if let Some(account) = price.account.as_deref() {
                    if !state.accounts.contains_key(account) {
                        return Some(format!("prices[{i}].account: no account {account:?}"));
                    }
                }
                match price.route.as_deref() {
                    Some(route) if route != "default" && !state.routes.contains_key(route) => {
                        Some(format!("prices[{i}].route: no route {route:?}"))
                    }
                    _ => None,
                }
            })
        })
        .await?;
    match unknown {
        Some(message) => Err(Status::not_found(message)),
        None => Ok(()),
    }
}

pub(super) async fn list_prices(
    svc: &AdminService,
    _: proto::Empty,
) -> Result<proto::PriceList, Status> {
    svc.read(|state| proto::PriceList {
        prices: state.prices.iter().map(convert::price).collect(),
    })
    .await
}

async fn campaign_view(svc: &AdminService, id: &str) -> Result<proto::Campaign, Status> {
    svc.read(|state| state.campaigns.get(id).map(convert::campaign))
        .await?
        .ok_or_else(|| not_found("campaign", id))
}

pub(super) async fn book_campaign(
    svc: &AdminService,
    req: proto::BookCampaignRequest,
) -> Result<proto::Campaign, Status> {
    let tolerance_pct = u8::try_from(req.tolerance_pct)
        .ok()
        .filter(|p| *p <= 100)
        .ok_or_else(|| Status::invalid_argument("tolerance_pct: more than 100"))?;
    if req.id.is_empty() {
        return Err(Status::invalid_argument("id: empty"));
    }
    if req.parts == 0 {
        return Err(Status::invalid_argument(
            "parts: 0; a campaign books at least one message part",
        ));
    }
    let what = format!(
        "BookCampaign {} account={} parts={} amount={}",
        req.id, req.account, req.parts, req.amount
    );
    let command = Command::BookCampaign {
        id: req.id.clone(),
        account: req.account,
        send_at_ms: req.send_at_ms,
        window_ms: req.window_ms,
        parts: req.parts,
        amount: req.amount,
        tolerance_pct,
    };
    svc.change(what, command).await?;
    campaign_view(svc, &req.id).await
}

pub(super) async fn resize_campaign(
    svc: &AdminService,
    req: proto::ResizeCampaignRequest,
) -> Result<proto::Campaign, Status> {
    if req.parts == 0 {
        return Err(Status::invalid_argument(
            "parts: 0; cancel the campaign to free its booking",
        ));
    }
    let what = format!(
        "ResizeCampaign {} parts={} amount={}",
        req.id, req.parts, req.amount
    );
    let command = Command::ResizeCampaign {
        id: req.id.clone(),
        parts: req.parts,
        amount: req.amount,
    };
    svc.change(what, command).await?;
    campaign_view(svc, &req.id).await
}

pub(super) async fn cancel_campaign(
    svc: &AdminService,
    req: proto::NameRef,
) -> Result<proto::Done, Status> {
    let what = format!("CancelCampaign {}", req.name);
    svc.change(what, Command::CancelCampaign { id: req.name })
        .await?;
    Ok(proto::Done {})
}

pub(super) async fn list_campaigns(
    svc: &AdminService,
    req: proto::ListCampaignsRequest,
) -> Result<proto::CampaignList, Status> {
    svc.read(|state| proto::CampaignList {
        campaigns: state
            .campaigns
            .values()
            .filter(|c| req.account.is_empty() || c.account == req.account)
            .map(convert::campaign)
            .collect(),
    })
    .await
}

/// Routes and links are handled alike; this says which one.
#[derive(Clone, Copy)]
enum Table {
    Route,
    Link,
}

impl Table {
    fn noun(self) -> &'static str {
        match self {
            Table::Route => "route",
            Table::Link => "link",
        }
    }

    fn rpc(self, verb: &str) -> String {
        match self {
            Table::Route => format!("{verb}Route"),
            Table::Link => format!("{verb}Link"),
        }
    }

    fn get(self, state: &State, name: &str) -> Option<Spec> {
        match self {
            Table::Route => state.routes.get(name).cloned(),
            Table::Link => state.links.get(name).cloned(),
        }
    }

    fn put(self, spec: Spec) -> Command {
        match self {
            Table::Route => Command::PutRoute { spec },
            Table::Link => Command::PutLink { spec },
        }
    }

    fn delete(self, name: String) -> Command {
        match self {
            Table::Route => Command::DeleteRoute { name },
            Table::Link => Command::DeleteLink { name },
        }
    }
}

async fn put(
    svc: &AdminService,
    table: Table,
    req: proto::PutSpecRequest,
) -> Result<proto::Spec, Status> {
    let checked = match table {
        Table::Route => svc.ops.check_route(&req.toml),
        Table::Link => svc.ops.check_link(&req.toml),
    };
    let name =
        checked.map_err(|error| Status::invalid_argument(format!("{}: {error}", table.noun())))?;
    let spec = Spec {
        name: name.clone(),
        toml: req.toml,
        enabled: req.enabled,
    };
    let view = convert::spec(&spec);
    let what = format!("{} {name} enabled={}", table.rpc("Put"), req.enabled);
    svc.change(what, table.put(spec)).await?;
    Ok(view)
}

async fn set_enabled(
    svc: &AdminService,
    table: Table,
    name: String,
    enabled: bool,
) -> Result<proto::Spec, Status> {
    let mut spec = svc
        .read(|state| table.get(state, &name))
        .await?
        .ok_or_else(|| not_found(table.noun(), &name))?;
    spec.enabled = enabled;
    let view = convert::spec(&spec);
    let verb = if enabled { "Enable" } else { "Disable" };
    svc.change(format!("{} {name}", table.rpc(verb)), table.put(spec))
        .await?;
    Ok(view)
}

async fn delete(svc: &AdminService, table: Table, name: String) -> Result<proto::Done, Status> {
    if let Table::Link = table {
        let users = svc.read(|state| routes_using(state, &name)).await?;
        if !users.is_empty() {
            return Err(Status::failed_precondition(format!(
                "link {name} is used by route {}: change or delete the route first",
                users.join(", ")
            )));
        }
    }
    let what = format!("{} {name}", table.rpc("Delete"));
    svc.change(what, table.delete(name)).await?;
    Ok(proto::Done {})
}

/// The routes whose groups name `link`.
fn routes_using(state: &State, link: &str) -> Vec<String> {
    state
        .routes
        .values()
        .filter(|spec| {
            crate::replica::route_table(&spec.toml)
                .is_ok_and(|r| crate::replica::route_links(&r).iter().any(|l| l == link))
        })
        .map(|spec| spec.name.clone())
        .collect()
}

pub(super) async fn put_route(
    svc: &AdminService,
    req: proto::PutSpecRequest,
) -> Result<proto::Spec, Status> {
    put(svc, Table::Route, req).await
}

pub(super) async fn enable_route(
    svc: &AdminService,
    req: proto::NameRef,
) -> Result<proto::Spec, Status> {
    set_enabled(svc, Table::Route, req.name, true).await
}

pub(super) async fn disable_route(
    svc: &AdminService,
    req: proto::NameRef,
) -> Result<proto::Spec, Status> {
    set_enabled(svc, Table::Route, req.name, false).await
}

pub(super) async fn delete_route(
    svc: &AdminService,
    req: proto::NameRef,
) -> Result<proto::Done, Status> {
    delete(svc, Table::Route, req.name).await
}

pub(super) async fn list_routes(
    svc: &AdminService,
    _: proto::Empty,
) -> Result<proto::SpecList, Status> {
    svc.read(|state| proto::SpecList {
        specs: state
            .routes
            .values()
            .map(|spec| convert::route(state, spec))
            .collect(),
    })
    .await
}

pub(super) async fn put_link(
    svc: &AdminService,
    req: proto::PutSpecRequest,
) -> Result<proto::Spec, Status> {
    put(svc, Table::Link, req).await
}

pub(super) async fn enable_link(
    svc: &AdminService,
    req: proto::NameRef,
) -> Result<proto::Spec, Status> {
    set_enabled(svc, Table::Link, req.name, true).await
}

pub(super) async fn disable_link(
    svc: &AdminService,
    req: proto::NameRef,
) -> Result<proto::Spec, Status> {
    set_enabled(svc, Table::Link, req.name, false).await
}

pub(super) async fn delete_link(
    svc: &AdminService,
    req: proto::NameRef,
) -> Result<proto::Done, Status> {
    delete(svc, Table::Link, req.name).await
}

/// The stored links with their binds' owners and this node's live state, then the links
/// this node runs that the state does not hold (from its configuration file).
pub(super) async fn list_links(
    svc: &AdminService,
    _: proto::Empty,
) -> Result<proto::LinkList, Status> {
    let live = svc.ops.links().await.map_err(Status::unavailable)?;
    let mut links: Vec<proto::Link> = svc
        .read(|state| {
            state
                .links
                .values()
                .map(|spec| {
                    let running = live.iter().find(|l| l.name == spec.name);
                    let binds = convert::link_binds(&state.cluster, &spec.name);
                    convert::link(Some(spec), &spec.name, running, binds)
                })
                .collect()
        })
        .await?;
    let stored: HashSet<String> = links.iter().map(|l| l.name.clone()).collect();
    links.extend(
        live.iter()
            .filter(|l| !stored.contains(&l.name))
            .map(|l| convert::link(None, &l.name, Some(l), Vec::new())),
    );
    Ok(proto::LinkList { links })
}

pub(super) async fn put_webhook(
    svc: &AdminService,
    req: proto::Webhook,
) -> Result<proto::Webhook, Status> {
    if req.id.is_empty() {
        return Err(Status::invalid_argument("id: empty"));
    }
    if !(req.url.starts_with("http://") || req.url.starts_with("https://")) {
        return Err(Status::invalid_argument(format!(
            "url: {:?} is not http:// or https://",
            req.url
        )));
    }
    let webhook = Webhook {
        id: req.id,
        url: req.url,
        accounts: req.accounts,
    };
    let view = convert::webhook(&webhook);
    let what = format!(
        "PutWebhook {} {}",
        webhook.id,
        crate::config::redact_url(&webhook.url)
    );
    svc.change(what, Command::PutWebhook { webhook }).await?;
    Ok(view)
}

pub(super) async fn delete_webhook(
    svc: &AdminService,
    req: proto::NameRef,
) -> Result<proto::Done, Status> {
    let what = format!("DeleteWebhook {}", req.name);
    svc.change(what, Command::DeleteWebhook { id: req.name })
        .await?;
    Ok(proto::Done {})
}

pub(super) async fn list_webhooks(
    svc: &AdminService,
    _: proto::Empty,
) -> Result<proto::WebhookList, Status> {
    svc.read(|state| proto::WebhookList {
        webhooks: state.webhooks.values().map(convert::webhook).collect(),
    })
    .await
}
