//! Failpoints: bugs planted on purpose so that the chaos checker's own tests can show it
//! catches them. They exist only in builds with the `failpoints` feature, where the `tern`
//! binary turns on the ones the `FAILPOINTS` environment variable names
//! (`name=actions;...`, the `fail` crate's syntax, e.g. `accept_ack_before_durable=return`).
//! Without the feature [`on`] is false and the `fail` crate is not compiled in.

/// The customer is answered OK with a fresh id and the message is never written: the node
/// dying between an early answer and the store write.
pub const ACCEPT_ACK_BEFORE_DURABLE: &str = "accept_ack_before_durable";

/// A part the operator accepted is submitted to it once more.
pub const LINK_RESEND_KNOWN: &str = "link_resend_known";

/// Every failpoint of the code base.
pub const KNOWN: [&str; 2] = [ACCEPT_ACK_BEFORE_DURABLE, LINK_RESEND_KNOWN];

/// Whether failpoint `name` fires now (its `return` action); its other actions (`sleep`,
/// `panic`, `print`...) run here too. Always false without the `failpoints` feature.
#[inline]
pub(crate) fn on(name: &str) -> bool {
    #[cfg(feature = "failpoints")]
    fail::fail_point!(name, |_| true);
    let _ = name;
    false
}

/// Turns on the failpoints that `FAILPOINTS` names; returns them with their actions. A
/// name that is not one of [`KNOWN`] is an error rather than a silent no-op: a test that
/// misspells one would otherwise prove nothing.
#[cfg(feature = "failpoints")]
pub fn configure_from_env() -> Result<Vec<(String, String)>, String> {
    let spec = match std::env::var("FAILPOINTS") {
        Ok(spec) => spec,
        Err(std::env::VarError::NotPresent) => return Ok(Vec::new()),
        Err(error) => return Err(format!("FAILPOINTS: {error}")),
    };
    let mut active = Vec::new();
    for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((name, actions)) = entry.split_once('=') else {
            return Err(format!("FAILPOINTS: {entry:?} is not name=actions"));
        };
        let (name, actions) = (name.trim(), actions.trim());
        if !KNOWN.contains(&name) {
            return Err(format!(
                "FAILPOINTS: no failpoint {name:?} (known: {})",
                KNOWN.join(", ")
            ));
        }
        fail::cfg(name, actions).map_err(|error| format!("FAILPOINTS: {name}: {error}"))?;
        active.push((name.to_owned(), actions.to_owned()));
    }
    Ok(active)
}
