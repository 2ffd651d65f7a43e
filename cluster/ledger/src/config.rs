//! Prices, routes, carrier links, MO rules and webhooks: configuration the nodes read,
//! replicated so that every node prices and routes a message the same way.
//!
//! The state machine stores routes, links and MO rules as the TOML the node checked before
//! proposing them; it only keys them by name. Prices it does understand, because the
//! price of a message decides how much money a lease has to hold for it.

use std::collections::BTreeMap;

use crate::account::{check_name, check_prices};
use crate::{Minor, Price, Refusal, Response, Spec, State, Webhook};

/// The prices as stored: prefixes without a leading `+`.
pub(crate) fn normalized(prices: &[Price]) -> Vec<Price> {
    prices
        .iter()
        .map(|price| Price {
            prefix: price
                .prefix
                .strip_prefix('+')
                .unwrap_or(&price.prefix)
                .to_owned(),
            ..price.clone()
        })
        .collect()
}

/// Upserts or deletes a named spec in a routes, links or MO rules table.
fn put_spec(table: &mut BTreeMap<String, Spec>, kind: &str, spec: &Spec) -> Result<(), Refusal> {
    check_name(kind, &spec.name)?;
    table.insert(spec.name.clone(), spec.clone());
    Ok(())
}

fn delete_spec(table: &mut BTreeMap<String, Spec>, kind: &str, name: &str) -> Result<(), Refusal> {
    match table.remove(name) {
        Some(_) => Ok(()),
        None => Err(Refusal::NotFound(format!("{kind} {name}"))),
    }
}

impl State {
    pub(crate) fn set_prices(&mut self, prices: &[Price]) -> Result<Response, Refusal> {
        check_prices(prices)?;
        self.prices = normalized(prices);
        Ok(self.config_changed())
    }

    pub(crate) fn put_route(&mut self, spec: &Spec) -> Result<Response, Refusal> {
        put_spec(&mut self.routes, "route", spec)?;
        Ok(self.config_changed())
    }

    pub(crate) fn delete_route(&mut self, name: &str) -> Result<Response, Refusal> {
        delete_spec(&mut self.routes, "route", name)?;
        Ok(self.config_changed())
    }

    pub(crate) fn put_link(&mut self, spec: &Spec) -> Result<Response, Refusal> {
        put_spec(&mut self.links, "link", spec)?;
        Ok(self.config_changed())
    }

    pub(crate) fn delete_link(&mut self, name: &str) -> Result<Response, Refusal> {
        delete_spec(&mut self.links, "link", name)?;
        Ok(self.config_changed())
    }

    pub(crate) fn put_mo_rule(&mut self, spec: &Spec) -> Result<Response, Refusal> {
        put_spec(&mut self.mo_rules, "MO rule", spec)?;
        Ok(self.config_changed())
    }

    pub(crate) fn delete_mo_rule(&mut self, name: &str) -> Result<Response, Refusal> {
        delete_spec(&mut self.mo_rules, "MO rule", name)?;
        Ok(self.config_changed())
    }

    pub(crate) fn put_webhook(&mut self, webhook: &Webhook) -> Result<Response, Refusal> {
        check_name("webhook", &webhook.id)?;
        self.webhooks.insert(webhook.id.clone(), webhook.clone());
        Ok(self.config_changed())
    }

    pub(crate) fn delete_webhook(&mut self, id: &str) -> Result<Response, Refusal> {
        match self.webhooks.remove(id) {
            Some(_) => Ok(self.config_changed()),
            None => Err(Refusal::NotFound(format!("webhook {id}"))),
        }
    }

    fn config_changed(&mut self) -> Response {
        self.config_version = self.config_version.saturating_add(1);
        Response::Ok
    }

    /// The price of one part of a message from `account` over `route` to `destination`
    /// (digits, with or without a leading `+`). The most specific price wins: one for the
    /// account over a global one, then one for the route over an any-route one, then the
    /// longest prefix; among equals the one listed last. No match costs 0.
    pub fn price(&self, account: &str, route: Option<&str>, destination: &str) -> Minor {
        let number = destination.strip_prefix('+').unwrap_or(destination);
        self.prices
            .iter()
            .filter(|price| price.account.as_deref().is_none_or(|a| a == account))
            .filter(|price| match (&price.route, route) {
                (None, _) => true,
                (Some(wanted), Some(route)) => wanted == route,
                (Some(_), None) => false,
            })
            .filter(|price| number.starts_with(price.prefix.as_str()))
            .max_by_key(|price| {
                (
                    price.account.is_some(),
                    price.route.is_some(),
                    price.prefix.len(),
                )
            })
            .map_or(0, |price| price.per_part)
    }
}
