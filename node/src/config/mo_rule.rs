//! `[[mo_rule]]`: which account receives a mobile-originated message, by the number it was
//! sent to, a prefix of that number or the first word of its text.
//!
//! The file's rules seed the replicated state once; afterwards `tern ctl mo` changes them
//! on a running cluster. Both are checked here, so the file and the admin API refuse the
//! same rules with the same key names.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// One MO rule.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MoRuleConfig {
    /// What `tern ctl mo` calls the rule. Optional in the file, where a rule without one is
    /// `ACCOUNT-N`, the account's Nth rule; required through the admin API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub account: String,
    /// Receiving numbers owned outright (digits).
    #[serde(default)]
    pub numbers: Vec<String>,
    /// Receiving number prefixes (digits); `""` matches every number.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// First words of the text, matched without regard to case.
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// The name of every rule of the file, in order: its own, or `ACCOUNT-N`.
pub fn mo_rule_names(rules: &[MoRuleConfig]) -> Vec<String> {
    let mut per_account: HashMap<&str, usize> = HashMap::new();
    rules
        .iter()
        .map(|rule| {
            let n = per_account.entry(rule.account.as_str()).or_insert(0);
            *n += 1;
            match &rule.name {
                Some(name) => name.clone(),
                None => format!("{}-{n}", rule.account),
            }
        })
        .collect()
}

/// Every error of the file's `[[mo_rule]]` tables, against the accounts of the file.
pub(super) fn mo_rules_problems(
    rules: &[MoRuleConfig],
    accounts: &HashSet<&str>,
    errors: &mut Vec<ConfigError>,
) {
    let mut seen = HashSet::new();
    for (i, (rule, name)) in rules.iter().zip(mo_rule_names(rules)).enumerate() {
        let at = format!("mo_rule[{i}]");
        mo_rule_problems(&at, rule, Some(accounts), errors);
        if !seen.insert(name.clone()) {
            errors.push(invalid(
                format!("{at}.name"),
                format!("{name:?} is the name of another MO rule"),
            ));
        }
    }
}

/// Checks one `[[mo_rule]]` table given through the admin API: it must have a name, and
/// its account must be one of `accounts`. The first error.
pub fn validate_mo_rule(rule: &MoRuleConfig, accounts: &HashSet<&str>) -> Result<(), ConfigError> {
    let mut errors = Vec::new();
    if rule.name.is_none() {
        errors.push(invalid("mo_rule.name", "must be given"));
    }
    mo_rule_problems("mo_rule", rule, Some(accounts), &mut errors);
    match errors.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Every error of one rule; `at` names it. Without `accounts` the account is not checked
/// (a stored rule whose account was deleted still parses).
pub(crate) fn mo_rule_problems(
    at: &str,
    rule: &MoRuleConfig,
    accounts: Option<&HashSet<&str>>,
    errors: &mut Vec<ConfigError>,
) {
    let key = |field: &str| format!("{at}.{field}");
    if rule.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        errors.push(invalid(key("name"), "must not be empty"));
    }
    if let Some(ids) = accounts {
        if !ids.contains(rule.account.as_str()) {
            errors.push(invalid(
                key("account"),
                format!("no account {:?}", rule.account),
            ));
        }
    }
    if rule.numbers.is_empty() && rule.prefixes.is_empty() && rule.keywords.is_empty() {
        errors.push(invalid(
            at,
            "needs at least one of numbers, prefixes or keywords",
        ));
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    for (j, number) in rule.numbers.iter().enumerate() {
        if number.is_empty() || !digits(number) {
            errors.push(invalid(
                key(&format!("numbers[{j}]")),
                format!("{number:?} is not a string of digits"),
            ));
        }
    }
    for (j, prefix) in rule.prefixes.iter().enumerate() {
        if !digits(prefix) {
            errors.push(invalid(
                key(&format!("prefixes[{j}]")),
                format!("{prefix:?} is not a string of digits"),
            ));
        }
    }
    for (j, keyword) in rule.keywords.iter().enumerate() {
        if keyword.is_empty() || keyword.chars().any(char::is_whitespace) {
            errors.push(invalid(
                key(&format!("keywords[{j}]")),
                format!("{keyword:?} is not one word"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: Option<&str>, account: &str, numbers: &[&str]) -> MoRuleConfig {
        MoRuleConfig {
            name: name.map(Into::into),
            account: account.into(),
            numbers: numbers.iter().map(|n| (*n).to_owned()).collect(),
            ..MoRuleConfig::default()
        }
    }

    #[test]
    fn unnamed_rules_are_named_after_their_account() {
        let rules = [
            rule(None, "alice", &["1"]),
            rule(None, "bob", &["2"]),
            rule(Some("vote"), "alice", &["3"]),
            rule(None, "alice", &["4"]),
        ];
        assert_eq!(
            mo_rule_names(&rules),
            ["alice-1", "bob-1", "vote", "alice-3"]
        );
    }

    #[test]
    fn a_rule_is_refused_naming_the_key_that_is_wrong() {
        let accounts: HashSet<&str> = ["alice"].into_iter().collect();
        let error = |r: &MoRuleConfig| validate_mo_rule(r, &accounts).unwrap_err().to_string();
        assert!(error(&rule(None, "alice", &["1"])).contains("`mo_rule.name`"));
        assert!(error(&rule(Some("x"), "bob", &["1"])).contains("`mo_rule.account`"));
        assert!(error(&rule(Some("x"), "alice", &["+491"])).contains("`mo_rule.numbers[0]`"));
        assert!(error(&rule(Some("x"), "alice", &[])).contains("numbers, prefixes or keywords"));
        let two_words = MoRuleConfig {
            keywords: vec!["stop now".into()],
            ..rule(Some("x"), "alice", &[])
        };
        assert!(error(&two_words).contains("`mo_rule.keywords[0]`"));
        assert!(validate_mo_rule(&rule(Some("x"), "alice", &["491"]), &accounts).is_ok());
    }

    #[test]
    fn two_rules_of_one_name_are_refused() {
        let accounts: HashSet<&str> = ["alice"].into_iter().collect();
        let mut errors = Vec::new();
        let rules = [
            rule(Some("alice-2"), "alice", &["1"]),
            rule(None, "alice", &["2"]),
        ];
        mo_rules_problems(&rules, &accounts, &mut errors);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].to_string().contains("`mo_rule[1].name`"));
    }
}
