//! Account RPCs. The state machine checks what it can see (unknown parent, cycles,
//! existing ids, money); this layer checks what only it sees (the password, which the
//! state never receives, and the shape of fields) and turns patches into whole specs.

use tern_ledger::{AccountSpec, AutoTopUp, Command, Limits, Period};
use tonic::Status;

use super::convert::{
    self, check_networks, has_tag, parse_period, parse_tag, parse_thresholds, with_descendants,
};
use super::now_ms;
use super::password;
use super::proto;
use super::service::AdminService;

/// Simultaneous binds when the caller does not say (the configuration file's default).
const DEFAULT_MAX_BINDS: u32 = 4;

/// SMPP 3.4 §5.2.1: system_id is at most 15 octets.
fn check_id(id: &str) -> Result<(), Status> {
    if id.is_empty() || id.len() > 15 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Status::invalid_argument(format!(
            "id: {id:?} is not 1 to 15 printable ASCII characters (an SMPP system_id)"
        )));
    }
    Ok(())
}

/// SMPP 3.4 §5.2.2: password is at most 8 octets.
fn check_password(password: &str) -> Result<(), Status> {
    if password.is_empty() || password.len() > 8 || !password.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Status::invalid_argument(
            "password: not 1 to 8 printable ASCII characters (an SMPP password)",
        ));
    }
    Ok(())
}

fn check_positive(field: &str, value: Option<i64>) -> Result<(), Status> {
    match value {
        Some(v) if v <= 0 => Err(Status::invalid_argument(format!(
            "{field}: {v} is not positive"
        ))),
        _ => Ok(()),
    }
}

fn check_credit_limit(value: Option<i64>) -> Result<(), Status> {
    match value {
        Some(v) if v < 0 => Err(Status::invalid_argument(format!(
            "credit_limit: {v} is negative"
        ))),
        _ => Ok(()),
    }
}

fn check_max_binds(value: Option<u32>) -> Result<(), Status> {
    match value {
        Some(0) => Err(Status::invalid_argument(
            "max_binds: 0 would refuse every bind; disable the account to stop it binding",
        )),
        _ => Ok(()),
    }
}

fn check_tps(value: Option<u32>) -> Result<(), Status> {
    match value {
        Some(0) => Err(Status::invalid_argument(
            "tps: 0 would refuse every submit; leave it out for no limit",
        )),
        _ => Ok(()),
    }
}

/// argon2 takes tens of milliseconds on purpose: off the async threads.
async fn hash(password: String) -> Result<String, Status> {
    tokio::task::spawn_blocking(move || password::hash_password(&password))
        .await
        .map_err(|_| Status::internal("the password hashing task failed"))?
        .map_err(|error| Status::internal(error.to_string()))
}

/// The protocols whose logins are MD5 authenticators over a shared secret.
const SECRET_PROTOCOLS: [&str; 3] = [tern_ledger::CMPP, tern_ledger::SMGP, tern_ledger::CNGP];

/// An account's shared secrets, `cmpp_secret` among them; a protocol that logs in
/// otherwise, or an empty secret, is refused.
fn secrets(
    mut secrets: std::collections::BTreeMap<String, String>,
    cmpp: Option<String>,
) -> Result<std::collections::BTreeMap<String, String>, Status> {
    if let Some(secret) = cmpp {
        secrets.insert(tern_ledger::CMPP.to_owned(), secret);
    }
    check_secrets(secrets.iter())?;
    Ok(secrets)
}

fn check_secrets<'a>(
    mut secrets: impl Iterator<Item = (&'a String, &'a String)>,
) -> Result<(), Status> {
    match secrets.find(|(protocol, secret)| {
        !SECRET_PROTOCOLS.contains(&protocol.as_str()) || secret.is_empty()
    }) {
        Some((protocol, _)) => Err(Status::invalid_argument(format!(
            "secrets.{protocol}: a non-empty secret of one of {SECRET_PROTOCOLS:?}"
        ))),
        None => Ok(()),
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

pub(super) async fn create(
    svc: &AdminService,
    req: proto::CreateAccountRequest,
) -> Result<proto::Account, Status> {
    check_id(&req.id)?;
    check_password(&req.password)?;
    check_networks(&req.allowed_ips)?;
    check_credit_limit(req.credit_limit)?;
    check_positive("auto_topup", req.auto_topup)?;
    check_tps(req.tps)?;
    check_max_binds(req.max_binds)?;
    if req.credit < 0 {
        return Err(Status::invalid_argument(
            "credit: the opening balance is negative",
        ));
    }
    if req.unmetered && (req.credit != 0 || req.credit_limit.is_some()) {
        return Err(Status::invalid_argument(
            "unmetered: an account not metered in money has no credit nor credit_limit",
        ));
    }
    let period = match req.period.as_str() {
        "" => Period::Day,
        name => parse_period(name)?,
    };
    let thresholds = match req.thresholds.as_slice() {
        [] => Limits::default().thresholds,
        percents => parse_thresholds(percents)?,
    };
    let spec = AccountSpec {
        id: req.id.clone(),
        password_hash: hash(req.password).await?,
        enabled: true,
        max_binds: req.max_binds.unwrap_or(DEFAULT_MAX_BINDS),
        allowed_ips: req.allowed_ips,
        sender_ids: req.sender_ids,
        transliterate: req.transliterate,
        parent: non_empty(req.parent),
        tags: req.tags,
        secrets: secrets(req.secrets, non_empty(req.cmpp_secret))?,
        limits: Limits {
            // Prepaid unless said otherwise: postpaid with a credit limit, or unmetered.
            credit_limit: if req.unmetered {
                None
            } else {
                Some(req.credit_limit.unwrap_or(0))
            },
            max_messages: req.max_messages,
            period,
            thresholds,
            tps: req.tps,
            auto_topup: req.auto_topup.map(|amount| AutoTopUp { amount }),
        },
    };
    let what = format!("CreateAccount {} credit={}", req.id, req.credit);
    svc.change(
        what,
        Command::CreateAccount {
            spec,
            credit: req.credit,
        },
    )
    .await?;
    svc.account_view(&req.id).await
}

/// Applies the set fields of `patch` to `limits`.
fn patch_limits(limits: &mut Limits, patch: proto::LimitsPatch) -> Result<(), Status> {
    check_credit_limit(patch.credit_limit)?;
    check_positive("auto_topup", patch.auto_topup)?;
    check_tps(patch.tps)?;
    if patch.clear_credit_limit {
        limits.credit_limit = None;
    } else if let Some(v) = patch.credit_limit {
        limits.credit_limit = Some(v);
    }
    if patch.clear_max_messages {
        limits.max_messages = None;
    } else if let Some(v) = patch.max_messages {
        limits.max_messages = Some(v);
    }
    if let Some(period) = patch.period {
        limits.period = parse_period(&period)?;
    }
    if patch.clear_tps {
        limits.tps = None;
    } else if let Some(v) = patch.tps {
        limits.tps = Some(v);
    }
    if patch.clear_auto_topup {
        limits.auto_topup = None;
    } else if let Some(amount) = patch.auto_topup {
        limits.auto_topup = Some(AutoTopUp { amount });
    }
    if let Some(list) = patch.thresholds {
        limits.thresholds = parse_thresholds(&list.percents)?;
    }
    Ok(())
}

pub(super) async fn update(
    svc: &AdminService,
    req: proto::UpdateAccountRequest,
) -> Result<proto::Account, Status> {
    if let Some(list) = &req.allowed_ips {
        check_networks(&list.values)?;
    }
    check_max_binds(req.max_binds)?;
    check_secrets(req.set_secrets.iter())?;
    let what = format!("UpdateAccount {}", req.id);
    svc.edit_account(what, &req.id, |spec| {
        if let Some(v) = req.max_binds {
            spec.max_binds = v;
        }
        if let Some(list) = req.allowed_ips {
            spec.allowed_ips = list.values;
        }
        if let Some(list) = req.sender_ids {
            spec.sender_ids = list.values;
        }
        if let Some(v) = req.transliterate {
            spec.transliterate = v;
        }
        if let Some(parent) = req.parent {
            spec.parent = non_empty(Some(parent));
        }
        for key in &req.remove_tags {
            spec.tags.remove(key);
        }
        spec.tags.extend(req.set_tags);
        spec.secrets.extend(req.set_secrets);
        for protocol in &req.remove_secrets {
            spec.secrets.remove(protocol);
        }
        match req.limits {
            Some(patch) => patch_limits(&mut spec.limits, patch),
            None => Ok(()),
        }
    })
    .await
}

pub(super) async fn disable(
    svc: &AdminService,
    req: proto::AccountRef,
) -> Result<proto::Account, Status> {
    let what = format!("DisableAccount {}", req.id);
    svc.edit_account(what, &req.id, |spec| {
        spec.enabled = false;
        Ok(())
    })
    .await
}

pub(super) async fn enable(
    svc: &AdminService,
    req: proto::AccountRef,
) -> Result<proto::Account, Status> {
    let what = format!("EnableAccount {}", req.id);
    svc.edit_account(what, &req.id, |spec| {
        spec.enabled = true;
        Ok(())
    })
    .await
}

pub(super) async fn delete(
    svc: &AdminService,
    req: proto::AccountRef,
) -> Result<proto::Done, Status> {
    let what = format!("DeleteAccount {}", req.id);
    svc.change(what, Command::DeleteAccount { id: req.id })
        .await?;
    Ok(proto::Done {})
}

pub(super) async fn set_password(
    svc: &AdminService,
    req: proto::SetPasswordRequest,
) -> Result<proto::Account, Status> {
    check_password(&req.password)?;
    let phc = hash(req.password).await?;
    let what = format!("SetPassword {}", req.id);
    svc.edit_account(what, &req.id, |spec| {
        spec.password_hash = phc;
        Ok(())
    })
    .await
}

pub(super) async fn set_allowlist(
    svc: &AdminService,
    req: proto::SetAllowlistRequest,
) -> Result<proto::Account, Status> {
    check_networks(&req.allowed_ips)?;
    let what = format!("SetAllowlist {} {}", req.id, req.allowed_ips.join(","));
    svc.edit_account(what, &req.id, |spec| {
        spec.allowed_ips = req.allowed_ips;
        Ok(())
    })
    .await
}

pub(super) async fn set_limits(
    svc: &AdminService,
    req: proto::SetLimitsRequest,
) -> Result<proto::Account, Status> {
    let what = format!("SetLimits {}", req.id);
    let patch = req.limits.unwrap_or_default();
    svc.edit_account(what, &req.id, |spec| patch_limits(&mut spec.limits, patch))
        .await
}

pub(super) async fn set_thresholds(
    svc: &AdminService,
    req: proto::SetThresholdsRequest,
) -> Result<proto::Account, Status> {
    let thresholds = parse_thresholds(&req.percents)?;
    let what = format!("SetThresholds {} {thresholds:?}", req.account);
    svc.edit_account(what, &req.account, |spec| {
        spec.limits.thresholds = thresholds;
        Ok(())
    })
    .await
}

pub(super) async fn top_up(
    svc: &AdminService,
    req: proto::TopUpRequest,
) -> Result<proto::Account, Status> {
    check_positive("amount", Some(req.amount))?;
    let what = format!(
        "TopUp {} amount={}{}",
        req.id,
        req.amount,
        if req.from_parent { " from_parent" } else { "" }
    );
    let command = Command::TopUp {
        account: req.id.clone(),
        amount: req.amount,
        from_parent: req.from_parent,
    };
    svc.change(what, command).await?;
    svc.account_view(&req.id).await
}

pub(super) async fn get(
    svc: &AdminService,
    req: proto::AccountRef,
) -> Result<proto::Account, Status> {
    svc.account_view(&req.id).await
}

pub(super) async fn list(
    svc: &AdminService,
    req: proto::ListAccountsRequest,
) -> Result<proto::AccountList, Status> {
    let filter = parse_tag(&req.tag)?;
    let at_ms = now_ms();
    svc.read(|state| proto::AccountList {
        accounts: state
            .accounts
            .values()
            .filter(|a| match &filter {
                Some((key, value)) => has_tag(a, key, value.as_deref()),
                None => true,
            })
            .map(|a| convert::account(state, a, at_ms))
            .collect(),
    })
    .await
}

pub(super) async fn usage(
    svc: &AdminService,
    req: proto::UsageRequest,
) -> Result<proto::UsageReply, Status> {
    let filter = parse_tag(&req.tag)?;
    if req.account.is_empty() == filter.is_none() {
        return Err(Status::invalid_argument(
            "usage needs an account or a tag, not both",
        ));
    }
    let at_ms = now_ms();
    let rows = svc
        .read(|state| {
            let accounts: Vec<_> = match &filter {
                Some((key, value)) => state
                    .accounts
                    .values()
                    .filter(|a| has_tag(a, key, value.as_deref()))
                    .collect(),
                None if state.accounts.contains_key(&req.account) => {
                    with_descendants(state, &req.account)
                        .iter()
                        .filter_map(|id| state.accounts.get(id))
                        .collect()
                }
                None => return None,
            };
            Some(
                accounts
                    .into_iter()
                    .map(|a| convert::usage_row(a, at_ms))
                    .collect::<Vec<_>>(),
            )
        })
        .await?
        .ok_or_else(|| super::service::not_found("account", &req.account))?;
    Ok(proto::UsageReply {
        total: Some(convert::usage_total(&rows)),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_passwords_fit_smpp() {
        assert!(check_id("acme").is_ok());
        assert!(check_id("").is_err());
        assert!(check_id("sixteen-chars-xx").is_err());
        assert!(check_id("a b").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password("123456789").is_err());
        assert!(check_password("").is_err());
    }

    #[test]
    fn a_limits_patch_changes_only_what_it_sets() {
        let mut limits = Limits {
            credit_limit: Some(100),
            max_messages: Some(1000),
            tps: Some(10),
            ..Limits::default()
        };
        patch_limits(
            &mut limits,
            proto::LimitsPatch {
                max_messages: Some(5),
                period: Some("month".into()),
                clear_tps: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(limits.credit_limit, Some(100));
        assert_eq!(limits.max_messages, Some(5));
        assert_eq!(limits.period, Period::Month);
        assert_eq!(limits.tps, None);
        assert_eq!(limits.thresholds, vec![80, 100]);
        let bad = proto::LimitsPatch {
            period: Some("week".into()),
            ..Default::default()
        };
        assert!(patch_limits(&mut limits, bad).is_err());
    }
}
