//! Settings of the CQL store (`[store.cql]` in the node's TOML), their validation, and
//! the TLS context they describe.
//!
//! Names and values that end up inside CQL text (the keyspace, datacenter names) are
//! checked here, so that the schema code can put them in statements as they are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// The longest a request (with the driver's retries) may take, and the longest a write
/// may wait in the queue before it is sent: together they stay well inside the 60 s margin
/// of the pending-bucket clean-up (see the module doc of `cql`).
pub const MAX_REQUEST_TIMEOUT_MS: u64 = 15_000;

/// Cassandra refuses batches above `batch_size_fail_threshold` (50 KiB by default),
/// ScyllaDB above 1 MiB.
const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// Cassandra's and ScyllaDB's largest TTL: 20 years.
pub(super) const MAX_TTL_SECS: u64 = 20 * 365 * 86_400;

/// Settings of the CQL store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CqlConfig {
    /// Nodes to reach the cluster through, `host:port`; the driver finds the others.
    pub contact_points: Vec<String>,
    /// The keyspace the store's tables live in (lower case letters, digits, `_`).
    pub keyspace: String,
    /// How the keyspace is replicated when this node creates it (`create_keyspace`).
    pub replication: Replication,
    /// Consistency of every read and write.
    pub consistency: Consistency,
    /// The datacenter this node prefers (and, with `local_quorum` or `local_one`, the one
    /// whose replicas answer). Required with the `local_*` consistencies.
    pub local_datacenter: Option<String>,
    /// Plain-text authentication; both or neither.
    pub username: Option<String>,
    pub password: Option<String>,
    /// TLS to the database; none: plain TCP.
    pub tls: Option<TlsConfig>,
    /// Connections per node (per shard on ScyllaDB).
    pub pool_size: usize,
    /// The longest one request may take, retries included, before its outcome is taken as
    /// unknown (at most 15 000).
    pub request_timeout_ms: u64,
    /// Write calls that may wait for the writer; beyond it `write` returns `Overloaded`.
    pub write_queue_capacity: usize,
    /// The largest unlogged batch the writer sends, in bytes of values. Keep it below the
    /// database's `batch_size_fail_threshold` (Cassandra: 50 KiB).
    pub max_batch_bytes: usize,
    /// Batches of one write round in flight at once.
    pub max_in_flight_batches: usize,
    /// How long a receipt index entry lives when no receipt comes.
    pub receipt_index_ttl_secs: u64,
    /// How long records and their CDR indexes are kept, in days; 0 keeps them.
    pub cdr_retention_days: u64,
    /// Create the keyspace when it is missing (`tern dev`); otherwise a missing keyspace
    /// is an error, replication being the operator's decision.
    pub create_keyspace: bool,
}

impl Default for CqlConfig {
    fn default() -> Self {
        Self {
            contact_points: vec!["127.0.0.1:9042".into()],
            keyspace: "tern".into(),
            replication: Replication::default(),
            consistency: Consistency::Quorum,
            local_datacenter: None,
            username: None,
            password: None,
            tls: None,
            pool_size: 1,
            request_timeout_ms: 5_000,
            write_queue_capacity: 65_536,
            max_batch_bytes: 32 * 1024,
            max_in_flight_batches: 64,
            receipt_index_ttl_secs: 7 * 86_400,
            cdr_retention_days: 400,
            create_keyspace: false,
        }
    }
}

/// Replication of the keyspace, used only when the store creates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Replication {
    pub strategy: ReplicationStrategy,
    /// Replicas (SimpleStrategy).
    pub factor: Option<u32>,
    /// Replicas per datacenter (NetworkTopologyStrategy).
    pub datacenters: BTreeMap<String, u32>,
}

impl Default for Replication {
    fn default() -> Self {
        Self {
            strategy: ReplicationStrategy::SimpleStrategy,
            factor: Some(1),
            datacenters: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicationStrategy {
    SimpleStrategy,
    NetworkTopologyStrategy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consistency {
    Quorum,
    LocalQuorum,
    One,
    All,
    LocalOne,
}

impl Consistency {
    pub(super) fn driver(self) -> scylla::statement::Consistency {
        use scylla::statement::Consistency as C;
        match self {
            Consistency::Quorum => C::Quorum,
            Consistency::LocalQuorum => C::LocalQuorum,
            Consistency::One => C::One,
            Consistency::All => C::All,
            Consistency::LocalOne => C::LocalOne,
        }
    }

    fn is_local(self) -> bool {
        matches!(self, Consistency::LocalQuorum | Consistency::LocalOne)
    }

    /// The serial consistency of lightweight transactions: LOCAL_SERIAL with a `local_*`
    /// consistency (the replicas of this datacenter decide), SERIAL otherwise.
    pub(super) fn serial(self) -> scylla::statement::SerialConsistency {
        use scylla::statement::SerialConsistency as S;
        if self.is_local() {
            S::LocalSerial
        } else {
            S::Serial
        }
    }
}

/// TLS to the database, through rustls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificates of the authorities that sign the nodes' certificates.
    pub ca_file: PathBuf,
    /// PEM certificate chain and key of this node, for databases that require client
    /// certificates; both or neither.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Check that a node's certificate names its IP address (the driver reaches nodes by
    /// address). Off: any certificate the authorities signed is accepted.
    #[serde(default = "yes")]
    pub verify_hostname: bool,
}

fn yes() -> bool {
    true
}

/// One invalid setting: the key, as `store.cql.<key>`, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigProblem {
    pub key: String,
    pub message: String,
}

fn problem(key: &str, message: impl Into<String>) -> ConfigProblem {
    ConfigProblem {
        key: format!("store.cql.{key}"),
        message: message.into(),
    }
}

impl CqlConfig {
    /// The settings `tern dev --store cql://HOST:PORT[,HOST:PORT…]/KEYSPACE` means: those
    /// nodes, that keyspace, created when missing with one replica; consistency stays
    /// `quorum` (of one replica, that is one).
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let invalid = |why: &str| StoreError::Invalid(format!("{url:?}: {why}"));
        let rest = url
            .strip_prefix("cql://")
            .ok_or_else(|| invalid("expected cql://HOST:PORT/KEYSPACE"))?;
        let (hosts, keyspace) = rest
            .split_once('/')
            .ok_or_else(|| invalid("no keyspace: expected cql://HOST:PORT/KEYSPACE"))?;
        let config = Self {
            contact_points: hosts.split(',').map(str::to_owned).collect(),
            keyspace: keyspace.to_owned(),
            replication: Replication::default(),
            create_keyspace: true,
            ..Self::default()
        };
        config.validate().map_err(|problems| {
            invalid(
                &problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        Ok(config)
    }

    /// Every invalid setting, each named `store.cql.<key>`.
    pub fn validate(&self) -> Result<(), Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        if self.contact_points.is_empty() {
            problems.push(problem("contact_points", "name at least one host:port"));
        }
        for point in &self.contact_points {
            if !is_host_port(point) {
                problems.push(problem(
                    "contact_points",
                    format!("{point:?} is not host:port"),
                ));
            }
        }
        if !is_identifier(&self.keyspace) {
            problems.push(problem(
                "keyspace",
                format!(
                    "{:?}: 1 to 48 lower case letters, digits and _, starting with a letter",
                    self.keyspace
                ),
            ));
        }
        self.replication.check(&mut problems);
        if self.consistency.is_local() && self.local_datacenter.is_none() {
            problems.push(problem(
                "local_datacenter",
                "required with a local_* consistency: name this node's datacenter",
            ));
        }
        if self.username.is_some() != self.password.is_some() {
            problems.push(problem(
                "password",
                "give username and password, or neither",
            ));
        }
        if let Some(tls) = &self.tls {
            if tls.cert_file.is_some() != tls.key_file.is_some() {
                problems.push(problem(
                    "tls.key_file",
                    "give cert_file and key_file, or neither",
                ));
            }
        }
        if self.pool_size == 0 || self.pool_size > 64 {
            problems.push(problem("pool_size", "must be 1 to 64"));
        }
        if self.request_timeout_ms == 0 || self.request_timeout_ms > MAX_REQUEST_TIMEOUT_MS {
            problems.push(problem(
                "request_timeout_ms",
                format!("must be 1 to {MAX_REQUEST_TIMEOUT_MS}"),
            ));
        }
        if self.write_queue_capacity == 0 {
            problems.push(problem("write_queue_capacity", "must be at least 1"));
        }
        if !(1024..=MAX_BATCH_BYTES).contains(&self.max_batch_bytes) {
            problems.push(problem(
                "max_batch_bytes",
                format!("must be 1024 to {MAX_BATCH_BYTES}"),
            ));
        }
        if self.max_in_flight_batches == 0 || self.max_in_flight_batches > 4096 {
            problems.push(problem("max_in_flight_batches", "must be 1 to 4096"));
        }
        if self.receipt_index_ttl_secs == 0 || self.receipt_index_ttl_secs > MAX_TTL_SECS {
            problems.push(problem(
                "receipt_index_ttl_secs",
                format!("must be 1 to {MAX_TTL_SECS}"),
            ));
        }
        if self.cdr_retention_days * 86_400 > MAX_TTL_SECS {
            problems.push(problem(
                "cdr_retention_days",
                format!("at most {} (0 keeps them)", MAX_TTL_SECS / 86_400),
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The receipt index TTL in seconds, as CQL takes it.
    pub(super) fn receipt_ttl(&self) -> i32 {
        i32::try_from(self.receipt_index_ttl_secs).unwrap_or(i32::MAX)
    }

    /// The TTL of records and CDR indexes in seconds; 0 for none.
    pub(super) fn cdr_ttl(&self) -> i32 {
        i32::try_from(self.cdr_retention_days * 86_400).unwrap_or(i32::MAX)
    }
}

impl Replication {
    fn check(&self, problems: &mut Vec<ConfigProblem>) {
        match self.strategy {
            ReplicationStrategy::SimpleStrategy => {
                if !matches!(self.factor, Some(1..)) {
                    problems.push(problem(
                        "replication.factor",
                        "SimpleStrategy needs a factor of at least 1",
                    ));
                }
                if !self.datacenters.is_empty() {
                    problems.push(problem(
                        "replication.datacenters",
                        "only for NetworkTopologyStrategy",
                    ));
                }
            }
            ReplicationStrategy::NetworkTopologyStrategy => {
                if self.factor.is_some() {
                    problems.push(problem(
                        "replication.factor",
                        "NetworkTopologyStrategy takes datacenters, not a factor",
                    ));
                }
                if self.datacenters.is_empty() {
                    problems.push(problem(
                        "replication.datacenters",
                        "NetworkTopologyStrategy needs at least one datacenter",
                    ));
                }
                for (name, factor) in &self.datacenters {
                    if !is_datacenter(name) || *factor == 0 {
                        problems.push(problem(
                            "replication.datacenters",
                            format!(
                                "{name:?} = {factor}: a name of letters, digits, '_', '-' \
                                 and '.', and at least one replica"
                            ),
                        ));
                    }
                }
            }
        }
    }

    /// The `replication` map of `CREATE KEYSPACE`; names were checked by `validate`.
    pub(super) fn cql(&self) -> String {
        match self.strategy {
            ReplicationStrategy::SimpleStrategy => format!(
                "{{'class': 'SimpleStrategy', 'replication_factor': {}}}",
                self.factor.unwrap_or(1)
            ),
            ReplicationStrategy::NetworkTopologyStrategy => {
                let mut map = String::from("{'class': 'NetworkTopologyStrategy'");
                for (name, factor) in &self.datacenters {
                    map.push_str(&format!(", '{name}': {factor}"));
                }
                map.push('}');
                map
            }
        }
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 48
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_datacenter(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn is_host_port(point: &str) -> bool {
    let Some((host, port)) = point.rsplit_once(':') else {
        return false;
    };
    !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// The rustls client configuration `tls` describes, with the ring provider that the rest of
/// Tern uses (the driver's rustls would otherwise look for a process-wide default).
pub(super) fn rustls_config(tls: &TlsConfig) -> Result<Arc<rustls::ClientConfig>, StoreError> {
    use rustls::client::WebPkiServerVerifier;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_pem_certs("tls.ca_file", &tls.ca_file)? {
        roots
            .add(cert)
            .map_err(|e| tls_error("tls.ca_file", &tls.ca_file, e))?;
    }
    if roots.is_empty() {
        return Err(tls_error(
            "tls.ca_file",
            &tls.ca_file,
            "no certificate in it",
        ));
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| tls_error("tls.ca_file", &tls.ca_file, e))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Invalid(format!("store.cql.tls: {e}")))?;
    let builder = if tls.verify_hostname {
        builder.with_webpki_verifier(verifier)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyNameVerifier(verifier)))
    };
    let config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert_file), Some(key_file)) => {
            let chain = read_pem_certs("tls.cert_file", cert_file)?;
            let key = read_pem_key(key_file)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_error("tls.key_file", key_file, e))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn tls_error(key: &str, path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("store.cql.{key} {}: {e}", path.display()))
}

fn read_pem_certs(
    key: &str,
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, StoreError> {
    let file = std::fs::File::open(path).map_err(|e| tls_error(key, path, e))?;
    rustls_pemfile::certs(&mut std::io::BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(key, path, e))
}

fn read_pem_key(path: &Path) -> Result<rustls::pki_types::PrivateKeyDer<'static>, StoreError> {
    let file = std::fs::File::open(path).map_err(|e| tls_error("tls.key_file", path, e))?;
    rustls_pemfile::private_key(&mut std::io::BufReader::new(file))
        .map_err(|e| tls_error("tls.key_file", path, e))?
        .ok_or_else(|| tls_error("tls.key_file", path, "no private key in it"))
}

/// The authorities' verifier, minus the check that the certificate names the address.
#[derive(Debug)]
struct AnyNameVerifier(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for AnyNameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(result: Result<(), Vec<ConfigProblem>>) -> Vec<String> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.key)
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(CqlConfig::default().validate(), Ok(()));
    }

    #[test]
    fn a_dev_url_names_hosts_and_keyspace_and_creates_it() {
        let config = CqlConfig::from_url("cql://10.0.0.1:9042,10.0.0.2:9042/tern_dev").unwrap();
        assert_eq!(config.contact_points, ["10.0.0.1:9042", "10.0.0.2:9042"]);
        assert_eq!(config.keyspace, "tern_dev");
        assert!(config.create_keyspace);
        assert_eq!(config.consistency, Consistency::Quorum);
        assert_eq!(config.replication.factor, Some(1));
        for bad in [
            "http://h:1/k",
            "cql://h:1",
            "cql://h:1/",
            "cql://h/k",
            "cql://h:1/K; DROP",
            "cql://:1/k",
        ] {
            assert!(
                matches!(CqlConfig::from_url(bad), Err(StoreError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_problem_names_its_key() {
        let config = CqlConfig {
            contact_points: vec![],
            keyspace: "Tern".into(),
            consistency: Consistency::LocalQuorum,
            username: Some("u".into()),
            pool_size: 0,
            request_timeout_ms: 60_000,
            write_queue_capacity: 0,
            max_batch_bytes: 10,
            max_in_flight_batches: 0,
            receipt_index_ttl_secs: 0,
            cdr_retention_days: 100_000,
            tls: Some(TlsConfig {
                ca_file: "ca.pem".into(),
                cert_file: Some("c.pem".into()),
                key_file: None,
                verify_hostname: true,
            }),
            ..CqlConfig::default()
        };
        assert_eq!(
            keys(config.validate()),
            [
                "store.cql.contact_points",
                "store.cql.keyspace",
                "store.cql.local_datacenter",
                "store.cql.password",
                "store.cql.tls.key_file",
                "store.cql.pool_size",
                "store.cql.request_timeout_ms",
                "store.cql.write_queue_capacity",
                "store.cql.max_batch_bytes",
                "store.cql.max_in_flight_batches",
                "store.cql.receipt_index_ttl_secs",
                "store.cql.cdr_retention_days",
            ]
        );
    }

    #[test]
    fn replication_is_checked_per_strategy_and_rendered() {
        let mut nts = Replication {
            strategy: ReplicationStrategy::NetworkTopologyStrategy,
            factor: None,
            datacenters: BTreeMap::from([("dc1".into(), 3), ("eu-west.2".into(), 2)]),
        };
        let mut problems = Vec::new();
        nts.check(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            nts.cql(),
            "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'eu-west.2': 2}"
        );
        nts.datacenters.insert("x'y".into(), 1);
        nts.factor = Some(3);
        nts.check(&mut problems);
        assert_eq!(problems.len(), 2);
        assert_eq!(
            Replication::default().cql(),
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        );
    }

    #[test]
    fn toml_uses_the_documented_names_and_refuses_unknown_keys() {
        let config: CqlConfig = toml::from_str(
            r#"
            contact_points = ["db1:9042"]
            keyspace = "sms"
            consistency = "local_quorum"
            local_datacenter = "dc1"
            [replication]
            strategy = "NetworkTopologyStrategy"
            factor = 3
            "#,
        )
        .unwrap();
        assert_eq!(config.consistency, Consistency::LocalQuorum);
        assert_eq!(
            keys(config.validate()),
            [
                "store.cql.replication.factor",
                "store.cql.replication.datacenters"
            ]
        );
        assert!(toml::from_str::<CqlConfig>("keyspce = \"x\"").is_err());
    }

    #[test]
    fn tls_files_that_are_missing_or_empty_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsConfig {
            ca_file: dir.path().join("nope.pem"),
            cert_file: None,
            key_file: None,
            verify_hostname: true,
        };
        let err = rustls_config(&missing).unwrap_err().to_string();
        assert!(err.contains("store.cql.tls.ca_file"), "{err}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let err = rustls_config(&TlsConfig {
            ca_file: empty,
            ..missing
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("no certificate"), "{err}");
    }

    #[test]
    fn tls_config_builds_from_pem_files_with_and_without_a_client_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["db1".into()]).unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.cert.pem()).unwrap();
        let client = rcgen::generate_simple_self_signed(vec!["tern".into()]).unwrap();
        let (cert_file, key_file) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert_file, client.cert.pem()).unwrap();
        std::fs::write(&key_file, client.key_pair.serialize_pem()).unwrap();
        let plain = TlsConfig {
            ca_file,
            cert_file: None,
            key_file: None,
            verify_hostname: false,
        };
        assert!(!rustls_config(&plain)
            .unwrap()
            .client_auth_cert_resolver
            .has_certs());
        let mutual = TlsConfig {
            cert_file: Some(cert_file),
            key_file: Some(key_file),
            verify_hostname: true,
            ..plain
        };
        assert!(rustls_config(&mutual)
            .unwrap()
            .client_auth_cert_resolver
            .has_certs());
    }
}
