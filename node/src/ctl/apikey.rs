//! `tern ctl apikey ...`: the API keys accounts' HTTP API clients authenticate with.

use clap::Subcommand;

use super::proto;
use super::render;
use super::{Ctl, CtlError};

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Makes a key for an account and prints it, this once: only its digest is kept.
    Create {
        account: String,
        /// What the key is for (1 to 64 characters); `default` without.
        #[arg(long)]
        label: Option<String>,
    },
    /// Lists keys (never the keys themselves): their ids, accounts, labels and ages.
    List {
        /// Only this account's keys.
        #[arg(long)]
        account: Option<String>,
    },
    /// Revokes a key: it is refused from now on.
    Revoke { id: String },
}

pub(crate) async fn run(ctl: &Ctl, command: ApiKeyCommand) -> Result<(), CtlError> {
    let mut client = ctl.client();
    match command {
        ApiKeyCommand::Create { account, label } => {
            let request = proto::CreateApiKeyRequest {
                account,
                label: label.unwrap_or_default(),
            };
            let created = client.create_api_key(ctl.req(request)).await?.into_inner();
            ctl.show(&created, render::created_api_key)
        }
        ApiKeyCommand::List { account } => {
            let request = proto::ListApiKeysRequest {
                account: account.unwrap_or_default(),
            };
            let list = client.list_api_keys(ctl.req(request)).await?.into_inner();
            ctl.show(&list, render::api_keys)
        }
        ApiKeyCommand::Revoke { id } => {
            client
                .revoke_api_key(ctl.req(proto::ApiKeyRef { id }))
                .await?;
            ctl.done()
        }
    }
}
