//! `tern ctl mo ...`: the MO rules, which say which account receives the mobile-originated
//! messages sent to some numbers, number prefixes or first words. A rule is given with
//! flags or as a `[[mo_rule]]` TOML file, like a route.

use std::path::PathBuf;

use clap::Subcommand;
use tern_node::config::MoRuleConfig;

use super::proto;
use super::render;
use super::{Ctl, CtlError};

#[derive(Debug, Subcommand)]
pub enum MoCommand {
    /// Adds or replaces a rule, from flags or from a TOML file holding one `[[mo_rule]]`
    /// table (name, account, numbers, prefixes, keywords).
    Put {
        /// The rule's name.
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        name: Option<String>,
        /// The account that receives the MO.
        #[arg(long, required_unless_present = "file", conflicts_with = "file")]
        account: Option<String>,
        /// A receiving number the account owns outright (digits); repeatable.
        #[arg(long = "number", value_name = "DIGITS", conflicts_with = "file")]
        numbers: Vec<String>,
        /// A receiving number prefix (digits); the longest matching prefix wins; repeatable.
        #[arg(long = "prefix", value_name = "DIGITS", conflicts_with = "file")]
        prefixes: Vec<String>,
        /// A first word of the text, matched without regard to case; repeatable.
        #[arg(long = "keyword", value_name = "WORD", conflicts_with = "file")]
        keywords: Vec<String>,
        #[arg(long)]
        file: Option<PathBuf>,
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
}

/// The TOML table of a rule given with flags.
fn table(
    name: String,
    account: String,
    numbers: Vec<String>,
    prefixes: Vec<String>,
    keywords: Vec<String>,
) -> Result<String, CtlError> {
    let rule = MoRuleConfig {
        name: Some(name),
        account,
        numbers,
        prefixes,
        keywords,
    };
    toml::to_string(&rule).map_err(|e| CtlError::Other(format!("mo_rule: {e}")))
}

pub(crate) async fn run(ctl: &Ctl, command: MoCommand) -> Result<(), CtlError> {
    let mut client = ctl.client();
    let rule = match command {
        MoCommand::Put {
            name,
            account,
            numbers,
            prefixes,
            keywords,
            file,
            disabled,
        } => {
            let toml = match (file, name, account) {
                (Some(path), _, _) => std::fs::read_to_string(&path)
                    .map_err(|e| CtlError::Other(format!("{}: {e}", path.display())))?,
                (None, Some(name), Some(account)) => {
                    table(name, account, numbers, prefixes, keywords)?
                }
                _ => return Err(CtlError::Usage("give NAME and --account, or --file".into())),
            };
            let request = proto::PutSpecRequest {
                toml,
                enabled: !disabled,
            };
            client.put_mo_rule(ctl.req(request)).await?
        }
        MoCommand::Enable { name } => {
            client
                .enable_mo_rule(ctl.req(proto::NameRef { name }))
                .await?
        }
        MoCommand::Disable { name } => {
            client
                .disable_mo_rule(ctl.req(proto::NameRef { name }))
                .await?
        }
        MoCommand::Delete { name } => {
            client
                .delete_mo_rule(ctl.req(proto::NameRef { name }))
                .await?;
            return ctl.done();
        }
        MoCommand::List => {
            let list = client.list_mo_rules(ctl.req(proto::Empty {})).await?;
            return ctl.show(&list.into_inner(), render::mo_rules);
        }
    };
    ctl.show(&rule.into_inner(), render::mo_rule)
}
