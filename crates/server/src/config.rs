//! The server's configuration: `config/default.toml` and friends, read through serde.
//!
//! Every listen address, the RTP port range, the data directory, the database and the
//! trunk's allowed sources are keys, so tests can run several servers side by side.
//! Relative paths are taken from the working directory (run from the repository root).

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub sip: SipConfig,
    pub media: MediaConfig,
    pub http: HttpConfig,
    pub data: DataConfig,
    pub trunk: TrunkConfig,
    pub ivr: IvrFiles,
    #[serde(default)]
    pub calls: CallConfig,
}

/// SIP listening and timers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// UDP and TCP listen on this address.
    pub listen: SocketAddr,
    /// Address put in Via/Contact when it differs from `listen` (e.g. behind NAT).
    #[serde(default)]
    pub advertised: Option<SocketAddr>,
    /// Larger messages are refused.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
    /// RFC 3261 T1 in milliseconds (500 by default).
    #[serde(default = "default_t1")]
    pub t1_ms: u64,
}

/// RTP address and port range.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Address RTP sockets bind to and that SDP advertises.
    pub ip: IpAddr,
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
}

/// The HTTP API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
}

/// Where things are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Root of everything the hotline writes.
    pub dir: PathBuf,
    /// Database URL; the default is an SQLite file under `dir`.
    #[serde(default)]
    pub database: Option<String>,
    /// Recordings directory; the default is `dir/recordings`.
    #[serde(default)]
    pub recordings: Option<PathBuf>,
}

/// The carrier trunk: who may send us calls, and which numbers are ours.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// Source networks allowed to send INVITEs, e.g. "127.0.0.1/32" or "10.1.0.0/16".
    pub allowed_sources: Vec<String>,
    /// Called numbers we answer (Request-URI user); others get 404.
    pub numbers: Vec<String>,
}

/// The IVR flow and its prompts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IvrFiles {
    pub flow: PathBuf,
    pub prompts: PathBuf,
}

/// Call handling limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallConfig {
    /// Ring (180) this long before answering; 0 answers at once.
    #[serde(default)]
    pub answer_delay_ms: u64,
    /// Longest call we keep up (protects against lost BYEs).
    #[serde(default = "default_max_call")]
    pub max_call_secs: u64,
    /// Calls handled at once; more get 503.
    #[serde(default = "default_max_calls")]
    pub max_calls: usize,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            answer_delay_ms: 0,
            max_call_secs: default_max_call(),
            max_calls: default_max_calls(),
        }
    }
}

fn default_max_message() -> usize {
    hotline_sip::normalize::DEFAULT_MAX_MESSAGE
}
fn default_t1() -> u64 {
    500
}
fn default_max_call() -> u64 {
    3600
}
fn default_max_calls() -> usize {
    2000
}

/// An allowed source network (address and prefix length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses "10.0.0.0/8", "::1/128" or a bare address.
    pub fn parse(s: &str) -> Result<Cidr> {
        let (a, p) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = a
            .trim()
            .parse()
            .with_context(|| format!("`{s}` is not an address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if p.is_empty() {
            max
        } else {
            p.trim()
                .parse::<u8>()
                .with_context(|| format!("`{s}`: bad prefix"))?
        };
        if prefix > max {
            bail!("`{s}`: prefix longer than {max}");
        }
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

impl Config {
    /// Reads and checks a config file; errors name the file and the bad field.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let cfg: Config =
            toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
        cfg.validate()
            .with_context(|| format!("in {}", path.display()))?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        if self.media.rtp_port_min >= self.media.rtp_port_max {
            bail!("media.rtp_port_min must be below media.rtp_port_max");
        }
        if self.media.rtp_port_max - self.media.rtp_port_min < 2 {
            bail!("media: the RTP port range needs at least two ports");
        }
        if self.trunk.numbers.is_empty() {
            bail!("trunk.numbers: list at least one number we answer (e.g. \"12345\")");
        }
        for s in &self.trunk.allowed_sources {
            Cidr::parse(s).with_context(|| "trunk.allowed_sources".to_string())?;
        }
        if self.sip.t1_ms == 0 {
            bail!("sip.t1_ms must be positive");
        }
        Ok(())
    }

    /// The allowed trunk networks.
    pub fn trunk_networks(&self) -> Vec<Cidr> {
        self.trunk
            .allowed_sources
            .iter()
            .filter_map(|s| Cidr::parse(s).ok())
            .collect()
    }

    /// The database URL, defaulting to an SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        self.data
            .database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data.dir.join("hotline.db").display()))
    }

    /// Where recordings are written.
    pub fn recordings_dir(&self) -> PathBuf {
        self.data
            .recordings
            .clone()
            .unwrap_or_else(|| self.data.dir.join("recordings"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
        let cfg = Config::load(&path).unwrap();
        assert_eq!(cfg.sip.listen, "127.0.0.1:5060".parse().unwrap());
        assert!(cfg.database_url().starts_with("sqlite://"));
    }

    #[test]
    fn cidr_matching() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(Cidr::parse("127.0.0.1")
            .unwrap()
            .contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("::1/128")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nonsense").is_err());
    }
}
