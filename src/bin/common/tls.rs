//! The TLS flags dc_server, dc_client and dc_snoop share (`-tls-cert`,
//! `-tls-key`, `-tls-ca`, and on the connecting side `-tls-server-name`),
//! each also accepted as `--flag`.

use distcache_core::nal::tls::{self, TlsFiles};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use std::sync::Arc;

/// Usage lines of the listening side (dc_server).
pub const SERVER_USAGE: &str = "\
\x20   -tls-cert <file>     - TLS: this server's certificate chain (PEM); with -tls-key and -tls-ca\n\
\x20                          the listener speaks only TLS 1.3 and requires client certificates\n\
\x20   -tls-key <file>      - TLS: the private key of -tls-cert (PEM, readable by its owner only)\n\
\x20   -tls-ca <file>       - TLS: CA certificate(s) client certificates must chain to (PEM)\n";

/// Usage lines of the connecting side (dc_client, dc_snoop).
pub const CLIENT_USAGE: &str = "\
\x20   -tls-cert <file>     - TLS: our client certificate chain (PEM); with -tls-key and -tls-ca\n\
\x20                          the -server connection speaks only TLS 1.3\n\
\x20   -tls-key <file>      - TLS: the private key of -tls-cert (PEM, readable by its owner only)\n\
\x20   -tls-ca <file>       - TLS: CA certificate(s) the server's certificate must chain to (PEM)\n\
\x20   -tls-server-name <n> - TLS: the name the server's certificate must carry\n\
\x20                          (default: the host or IP of -server)\n";

#[derive(Default)]
pub struct TlsOptions {
    cert: Option<String>,
    key: Option<String>,
    ca: Option<String>,
    server_name: Option<String>,
}

impl TlsOptions {
    /// Takes `arg` (`-flag` or `--flag`) when it is a TLS flag; `value`
    /// fetches its argument. `-tls-server-name` only when `connecting`.
    pub fn take(&mut self, arg: &str, connecting: bool, value: impl FnOnce() -> String) -> bool {
        let flag = arg.strip_prefix('-').filter(|f| f.starts_with('-')).unwrap_or(arg);
        match flag {
            "-tls-cert" => self.cert = Some(value()),
            "-tls-key" => self.key = Some(value()),
            "-tls-ca" => self.ca = Some(value()),
            "-tls-server-name" if connecting => self.server_name = Some(value()),
            _ => return false,
        }
        true
    }

    /// The files, when TLS was asked for; an error when only some of the
    /// three flags were given.
    fn files(&self) -> Result<Option<TlsFiles>, String> {
        match (&self.cert, &self.key, &self.ca) {
            (None, None, None) if self.server_name.is_none() => Ok(None),
            (Some(cert), Some(key), Some(ca)) => {
                Ok(Some(TlsFiles { cert: cert.clone(), key: key.clone(), ca: ca.clone() }))
            }
            _ => Err("-tls-cert, -tls-key and -tls-ca must be given together".into()),
        }
    }

    /// dc_server's configuration, or None without TLS; exits with a
    /// message naming the file at fault.
    pub fn server_config(&self, _prog: &str) -> Option<Arc<ServerConfig>> {
        let files = self.files().unwrap_or_else(|e| super::fail(&e))?;
        Some(tls::server_config(&files).unwrap_or_else(|e| super::fail(&format!("can't start TLS: {e}"))))
    }

    /// The connecting side's configuration and the server name to verify
    /// (from `-tls-server-name`, else the host of `server_address`), or
    /// None without TLS; exits with a clear message on a problem.
    pub fn client_config(&self, _prog: &str, server_address: &str) -> Option<(Arc<ClientConfig>, ServerName<'static>)> {
        let files = self.files().unwrap_or_else(|e| super::fail(&e))?;
        if server_address.starts_with("FD:") {
            super::fail(&format!("TLS needs a socket server address (IP:, IPv6: or UNIX:), not '{server_address}'"));
        }
        let config = tls::client_config(&files).unwrap_or_else(|e| super::fail(&format!("can't start TLS: {e}")));
        let name = self.server_name.clone().or_else(|| tls::host_of_address(server_address)).unwrap_or_else(|| {
            super::fail(&format!(
                "-tls-server-name is needed: '{server_address}' names no host to check the server's certificate against"
            ))
        });
        let name = tls::server_name(&name).unwrap_or_else(|e| super::fail(&e));
        Some((config, name))
    }
}
