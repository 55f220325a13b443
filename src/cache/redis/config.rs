//! `-cache URL` parsing for the Valkey/Redis backend.
//!
//! Accepted forms (the password may instead come from a file or the
//! environment, see [`RedisConfig::resolve_password`]):
//!
//! * `redis://[user[:password]@]host[:port][/db]`
//! * `rediss://…` — the same over TLS
//! * `redis+cluster://[user[:password]@]host[:port][,host[:port]…]`
//! * `rediss+cluster://…` — a Cluster over TLS
//!
//! `host` is a name, an IPv4 address or an IPv6 address in brackets; the
//! port defaults to 6379; `user` and `password` may use `%XX` escapes.

use std::time::Duration;

/// Prefix put before every session id unless `-cache-prefix` says
/// otherwise.
pub const DEFAULT_PREFIX: &str = "dc:";
/// Default for `-cache-timeout`.
pub const DEFAULT_TIMEOUT_MS: u64 = 1000;
/// Range of `-cache-timeout`.
pub const MIN_TIMEOUT_MS: u64 = 10;
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// Environment variable read for the password when neither the URL nor
/// `-cache-password-file` gives one.
pub const PASSWORD_ENV: &str = "DC_CACHE_PASSWORD";

const DEFAULT_PORT: u16 = 6379;
const FORMS: &str = "redis://[user[:password]@]host[:port][/db], rediss://..., \
                     redis+cluster://host[:port][,host[:port]...] or rediss+cluster://...";

/// Everything the backend needs to reach the store.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    pub tls: bool,
    pub cluster: bool,
    /// One node, or a Cluster's seed nodes.
    pub nodes: Vec<(String, u16)>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: i64,
    /// Put before every id to form the key.
    pub prefix: Vec<u8>,
    /// How long one operation may take before it is answered as failed.
    pub timeout: Duration,
    /// PEM certificates of the CAs that sign the servers' certificates
    /// (None: the system's trust store).
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("tls", &self.tls)
            .field("cluster", &self.cluster)
            .field("nodes", &self.nodes)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("db", &self.db)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Whether `-cache VALUE` names the builtin cache.
pub fn is_builtin(value: &str) -> bool {
    value == "builtin"
}

/// `url` with any password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_string() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &rest[..colon], &rest[at..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

fn percent_decode(s: &str, what: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => out.push(v),
                None => return Err(format!("the {what} has a '%' not followed by two hex digits")),
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("the {what} is not UTF-8 once %-decoded"))
}

fn parse_node(s: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return Err(format!("'{s}': an IPv6 address needs a closing ']'"));
        };
        let host = &rest[..close];
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("'{host}' is not an IPv6 address"));
        }
        match &rest[close + 1..] {
            "" => (host, None),
            p if p.starts_with(':') => (host, Some(&p[1..])),
            _ => return Err(format!("'{s}': expected ':port' after ']'")),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err(format!("'{s}' has no host"));
    }
    if !s.starts_with('[') && !host.bytes().all(|c| c.is_ascii_alphanumeric() || b".-_".contains(&c)) {
        return Err(format!("'{host}' is not a host name or address"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(v) if v > 0 => v,
            _ => return Err(format!("port '{p}' is not a number in 1..65535")),
        },
    };
    Ok((host.to_string(), port))
}

impl RedisConfig {
    /// Parses a `-cache` URL (not `builtin`). Errors say what is wrong,
    /// without repeating a password.
    pub fn parse(url: &str) -> Result<Self, String> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!("no scheme (expected {FORMS})"));
        };
        let (tls, cluster) = match scheme {
            "redis" => (false, false),
            "rediss" => (true, false),
            "redis+cluster" => (false, true),
            "rediss+cluster" => (true, true),
            other => return Err(format!("unknown scheme '{other}' (expected {FORMS})")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (mut username, mut password) = (None, None);
        if let Some(ui) = userinfo {
            let (u, p) = match ui.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (ui, None),
            };
            if !u.is_empty() {
                username = Some(percent_decode(u, "user name")?);
            }
            if let Some(p) = p {
                password = Some(percent_decode(p, "password")?);
            }
        }
        if hosts.is_empty() {
            return Err(format!("no host (expected {FORMS})"));
        }
        let nodes = hosts.split(',').map(parse_node).collect::<Result<Vec<_>, _>>()?;
        if !cluster && nodes.len() > 1 {
            return Err("several hosts need a redis+cluster:// or rediss+cluster:// URL".to_string());
        }
        let db = match path {
            "" => 0,
            p => match p.parse::<i64>() {
                Ok(v) if (0..=i64::from(i32::MAX)).contains(&v) => v,
                _ => return Err(format!("database '{p}' is not a number >= 0")),
            },
        };
        if cluster && db != 0 {
            return Err("a Cluster has only database 0".to_string());
        }
        Ok(Self {
            tls,
            cluster,
            nodes,
            username,
            password,
            db,
            prefix: DEFAULT_PREFIX.as_bytes().to_vec(),
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            ca_pem: None,
        })
    }

    /// Fills in the password when the URL has none: from `file` (its first
    /// line) if given, else from the environment variable
    /// [`PASSWORD_ENV`] if set. A password in both the URL and a file is
    /// an error.
    pub fn resolve_password(&mut self, file: Option<&str>, env: Option<String>) -> Result<(), String> {
        if let Some(path) = file {
            if self.password.is_some() {
                return Err("a password in both the URL and -cache-password-file".to_string());
            }
            let text = std::fs::read_to_string(path).map_err(|e| format!("-cache-password-file '{path}': {e}"))?;
            let line = text.lines().next().unwrap_or("");
            if line.is_empty() {
                return Err(format!("-cache-password-file '{path}': the first line is empty"));
            }
            self.password = Some(line.to_string());
        } else if self.password.is_none() {
            self.password = env.filter(|p| !p.is_empty());
        }
        Ok(())
    }

    /// Reads `-cache-ca FILE` (PEM).
    pub fn load_ca(&mut self, path: &str) -> Result<(), String> {
        let pem = std::fs::read(path).map_err(|e| format!("-cache-ca '{path}': {e}"))?;
        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            return Err(format!("-cache-ca '{path}': no PEM certificate in the file"));
        }
        self.ca_pem = Some(pem);
        Ok(())
    }

    /// The key a session id is stored under.
    pub fn key(&self, id: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + id.len());
        k.extend_from_slice(&self.prefix);
        k.extend_from_slice(id);
        k
    }

    /// The URL of one node without credentials, as the redis crate takes it.
    pub(super) fn node_url(&self, node: &(String, u16)) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let host = if node.0.contains(':') { format!("[{}]", node.0) } else { node.0.clone() };
        format!("{scheme}://{host}:{}", node.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_urls() {
        let c = RedisConfig::parse("redis://127.0.0.1:7000").unwrap();
        assert_eq!((c.tls, c.cluster, c.db), (false, false, 0));
        assert_eq!(c.nodes, [("127.0.0.1".to_string(), 7000)]);
        assert_eq!((c.username.as_deref(), c.password.as_deref()), (None, None));
        let c = RedisConfig::parse("rediss://dc%40web:p%3Ass@cache.example:6380/3").unwrap();
        assert!(c.tls && !c.cluster);
        assert_eq!(c.username.as_deref(), Some("dc@web"));
        assert_eq!(c.password.as_deref(), Some("p:ss"));
        assert_eq!(c.db, 3);
        let c = RedisConfig::parse("redis://:secret@[::1]").unwrap();
        assert_eq!(c.nodes, [("::1".to_string(), 6379)]);
        assert_eq!((c.username.as_deref(), c.password.as_deref()), (None, Some("secret")));
        assert_eq!(c.node_url(&c.nodes[0]), "redis://[::1]:6379");
        assert_eq!(c.key(b"\x00id"), b"dc:\x00id");
    }

    #[test]
    fn cluster_urls() {
        let c = RedisConfig::parse("rediss+cluster://u:p@a:1,b:2,[::1]:3").unwrap();
        assert!(c.tls && c.cluster);
        assert_eq!(c.nodes.len(), 3);
        assert_eq!(c.nodes[2], ("::1".to_string(), 3));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let e = |u: &str| RedisConfig::parse(u).unwrap_err();
        assert!(e("localhost:6379").contains("no scheme"));
        assert!(e("http://x").contains("unknown scheme 'http'"));
        assert!(e("redis://").contains("no host"));
        assert!(e("redis://h:0").contains("port '0'"));
        assert!(e("redis://h:99999").contains("port '99999'"));
        assert!(e("redis://h:1/x").contains("database 'x'"));
        assert!(e("redis://a:1,b:2").contains("redis+cluster"));
        assert!(e("redis+cluster://a:1/2").contains("only database 0"));
        assert!(e("redis://[::1:6379").contains("closing ']'"));
        assert!(e("redis://u:%zz@h").contains("password"));
        assert!(e("redis://h st:1").contains("not a host"));
        assert!(!e("redis://u:hunter2@h:1/x").contains("hunter2"));
    }

    #[test]
    fn redaction_and_password_sources() {
        assert_eq!(redact("redis://u:hunter2@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
        let mut c = RedisConfig::parse("redis://h").unwrap();
        c.resolve_password(None, Some("fromenv".into())).unwrap();
        assert_eq!(c.password.as_deref(), Some("fromenv"));
        let dir = std::env::temp_dir().join(format!("dc-redis-cfg-{}", std::process::id()));
        std::fs::write(&dir, "fromfile\nignored\n").unwrap();
        let mut c = RedisConfig::parse("redis://h").unwrap();
        c.resolve_password(dir.to_str(), Some("fromenv".into())).unwrap();
        assert_eq!(c.password.as_deref(), Some("fromfile"));
        let mut c = RedisConfig::parse("redis://:p@h").unwrap();
        assert!(c.resolve_password(dir.to_str(), None).unwrap_err().contains("both"));
        c.resolve_password(None, Some("fromenv".into())).unwrap();
        assert_eq!(c.password.as_deref(), Some("p"), "the URL wins over the environment");
        let _ = std::fs::remove_file(&dir);
        assert!(c.load_ca("/nonexistent/ca.pem").unwrap_err().contains("/nonexistent/ca.pem"));
    }
}
