//! The wire protocols this node speaks, registered by URL scheme (the `url` of an
//! `[[upstream]]`: its operator links) and by configuration section (its listener for
//! customers). The pipeline knows none of them; each comes from its connector crate's
//! `gateway` module. Adding a protocol is its crate, a module here with its [`Protocol`],
//! its line in [`ALL`] and its section in the configuration.

mod cmpp;
mod cn;
mod http;
mod sgip;
mod smpp;

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use tern_actors::protocol::CarrierProtocol;
use tern_actors::Sessions;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, LinkUrl, SmppSection, UpstreamConfig};

/// A wire protocol of the node.
pub(crate) trait Protocol: Sync {
    /// Its name, as its configuration section and the logs name it.
    fn name(&self) -> &'static str;
    /// The URL schemes of its operator links.
    fn schemes(&self) -> &'static [&'static str];
    /// What is wrong with an upstream of this protocol, beyond its URL's syntax: each
    /// problem with the field it is in (`url`, `version`, ...).
    fn upstream_problems(
        &self,
        url: &LinkUrl,
        upstream: &UpstreamConfig,
    ) -> Vec<(&'static str, String)>;
    /// The operator link an upstream describes. `smpp` holds the session timers links
    /// share.
    fn carrier(
        &self,
        smpp: &SmppSection,
        url: LinkUrl,
        upstream: &UpstreamConfig,
    ) -> anyhow::Result<Arc<dyn CarrierProtocol>>;
    /// Binds the listeners its section asks for; none when it asks for none.
    fn listen<'a>(
        &'a self,
        config: &'a Config,
        sessions: Sessions,
    ) -> BoxFuture<'a, anyhow::Result<Vec<Listener>>>;
}

/// A bound listener, not yet accepting.
pub(crate) struct Listener {
    /// The endpoint's name, as `tern dev` prints it and [`crate::Endpoints`] keeps it.
    pub name: &'static str,
    pub addr: SocketAddr,
    /// Accepts customers until the token is cancelled, each connection on the tracker.
    pub serve: Box<dyn FnOnce(CancellationToken, TaskTracker) -> BoxFuture<'static, ()> + Send>,
}

/// Every protocol of the node.
pub(crate) static ALL: &[&dyn Protocol] = &[
    &smpp::Smpp,
    &cmpp::Cmpp,
    &sgip::Sgip,
    &cn::Smgp,
    &cn::Cngp,
    &http::Http,
];

/// The protocol of a URL scheme.
pub(crate) fn for_scheme(scheme: &str) -> Option<&'static dyn Protocol> {
    ALL.iter().copied().find(|p| p.schemes().contains(&scheme))
}

/// Every scheme an upstream's URL may have.
pub(crate) fn schemes() -> Vec<&'static str> {
    ALL.iter()
        .flat_map(|p| p.schemes().iter().copied())
        .collect()
}
