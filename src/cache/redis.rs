//! Valkey/Redis (standalone or Cluster) as the session store.
//!
//! Concurrency design: the store runs on its own thread, which runs a
//! current-thread tokio runtime for the `redis` crate's async connections.
//! The event loop never waits on it. [`RedisStore::submit`] puts a tagged
//! request on an unbounded channel; the backend thread spawns one task per
//! request (requests on the same id wait for the one before, so that
//! retries in the Cluster router cannot reorder them), which sends one
//! command over a shared connection (a
//! `MultiplexedConnection` pipelines every concurrent command over one
//! socket; the Cluster router, [`cluster::Router`], keeps one such
//! connection per master and sends each key to the master owning its
//! slot, following MOVED/ASK and refreshing its slot map after failover
//! without holding back other requests). The answer goes into a shared
//! list and, if the list was empty, the notify callback (a `mio::Waker`
//! in dc_server) wakes the event loop, which takes all ready answers at
//! once. Every request is bounded by the `-cache-timeout`: a slow or dead
//! node delays only the requests that are waiting on it, and each of
//! those is answered as failed once the time is up.
//!
//! Commands: ADD is one `SET key data NX PX ttl` (stored only if absent,
//! atomically, acknowledged by the server before "success" is answered);
//! GET is `GET`, REMOVE is `DEL`, HAVE is `EXISTS`. Keys are the
//! configured prefix followed by the id's bytes (binary-safe).
//!
//! Connection faults: a standalone connection that fails at the I/O level
//! is dropped and re-established by a background task (every 250 ms at
//! most); requests made while there is none fail at once. The Cluster
//! router makes its node connections again by itself and falls back to
//! the seed nodes when no known master answers.

pub mod cluster;
pub mod config;

pub use config::RedisConfig;

use super::{AsyncStore, StoreAnswer, StoreOp};
use parking_lot::Mutex;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, RedisError, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Notify};

/// Delay between reconnection attempts.
const RETRY: Duration = Duration::from_millis(250);

/// How the first connection attempt went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartState {
    Connected,
    /// Not reachable yet: dc_server runs, operations fail, and the store
    /// keeps trying.
    Unreachable(String),
}

type Notifier = Box<dyn Fn() + Send + Sync>;

struct Shared {
    done: Mutex<Vec<(u64, StoreAnswer)>>,
    notify: Mutex<Option<Notifier>>,
}

impl Shared {
    fn finish(&self, tag: u64, answer: StoreAnswer) {
        let first = {
            let mut done = self.done.lock();
            done.push((tag, answer));
            done.len() == 1
        };
        if first {
            if let Some(n) = self.notify.lock().as_ref() {
                n();
            }
        }
    }
}

/// [`AsyncStore`] on Valkey/Redis (see the module docs).
pub struct RedisStore {
    tx: Option<mpsc::UnboundedSender<(u64, StoreOp)>>,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Clone)]
enum Conn {
    Single(MultiplexedConnection),
    Cluster(Arc<cluster::Router>),
}

impl Conn {
    async fn run(&mut self, config: &RedisConfig, op: &StoreOp) -> Result<Value, RedisError> {
        let cmd = command(config, op);
        match self {
            Conn::Single(c) => c.req_packed_command(&cmd).await.and_then(Value::extract_error),
            Conn::Cluster(r) => {
                let repeatable = matches!(op, StoreOp::Get { .. } | StoreOp::Have { .. });
                r.run(&config.key(op.id()), &cmd, repeatable).await
            }
        }
    }
}

/// What the backend thread shares between its tasks.
struct Link {
    config: RedisConfig,
    /// The connection and its generation (bumped whenever it is
    /// replaced or dropped).
    conn: Mutex<(Option<Conn>, u64)>,
    /// Wakes the reconnecting task.
    lost: Notify,
    last_success: Mutex<Instant>,
}

/// Whether an error at start-up is a configuration mistake (dc_server
/// exits) rather than an unreachable store (dc_server starts and retries).
fn fatal(e: &RedisError) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    // The server refused the connection's set-up (AUTH, SELECT, ...):
    // only a server that is still starting or failing over may change
    // its mind.
    let transient = ["loading", "busy", "clusterdown", "tryagain", "masterdown"];
    let refused = matches!(e.kind(), redis::ErrorKind::Server(_)) && !transient.iter().any(|t| text.contains(t));
    refused
        || matches!(e.kind(), redis::ErrorKind::AuthenticationFailed | redis::ErrorKind::InvalidClientConfig)
        || text.contains("wrongpass")
        || text.contains("noauth")
        || text.contains("certificate")
        || text.contains("invalid password")
        || text.contains("invalid username")
}

/// One line describing a failure to reach the store.
fn describe(e: &RedisError) -> String {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("certificate") {
        format!("TLS: the server's certificate is not trusted ({text}); check -cache-ca")
    } else if matches!(e.kind(), redis::ErrorKind::AuthenticationFailed)
        || lower.contains("wrongpass")
        || lower.contains("noauth")
    {
        format!("authentication failed: wrong user name or password ({text})")
    } else {
        text
    }
}

fn install_crypto() {
    // The redis crate builds its rustls configuration with the process's
    // default provider; an error only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Requests are small and answered one by one: Nagle's algorithm would
/// hold each behind the previous one's acknowledgement.
fn tcp_settings() -> redis::io::tcp::TcpSettings {
    redis::io::tcp::TcpSettings::default().set_nodelay(true)
}

async fn connect(config: &RedisConfig) -> Result<Conn, RedisError> {
    if config.cluster {
        // Each node is given the whole timeout to answer; the slot map is
        // taken from the first seed that does.
        let limit = config.timeout * (config.nodes.len() as u32 + 1);
        return tokio::time::timeout(limit, cluster::Router::connect(config.clone()))
            .await
            .map_err(|_| RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)))?
            .map(Conn::Cluster);
    }
    connect_node(config, &config.nodes[0]).await.map(Conn::Single)
}

/// One pipelined connection to one server (standalone, or a Cluster node).
async fn connect_node(config: &RedisConfig, node: &(String, u16)) -> Result<MultiplexedConnection, RedisError> {
    let certs = || redis::TlsCertificates { client_tls: None, root_cert: config.ca_pem.clone() };
    let mut settings = redis::RedisConnectionInfo::default().set_db(config.db).set_skip_set_lib_name();
    if let Some(u) = &config.username {
        settings = settings.set_username(u);
    }
    if let Some(p) = &config.password {
        settings = settings.set_password(p);
    }
    let info = redis::IntoConnectionInfo::into_connection_info(config.node_url(node).as_str())?
        .set_redis_settings(settings)
        .set_tcp_settings(tcp_settings());
    let client = if config.tls { Client::build_with_tls(info, certs())? } else { Client::open(info)? };
    let cfg = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(config.timeout))
        .set_response_timeout(Some(config.timeout));
    client.get_multiplexed_async_connection_with_config(&cfg).await
}

/// The command for one request.
fn command(config: &RedisConfig, op: &StoreOp) -> redis::Cmd {
    match op {
        StoreOp::Add { id, data, ttl_ms } => {
            let mut c = redis::cmd("SET");
            // PX must be positive; a 0 ms session is gone on the next
            // millisecond either way.
            c.arg(config.key(id)).arg(&data[..]).arg("NX").arg("PX").arg((*ttl_ms).max(1));
            c
        }
        StoreOp::Get { id } => redis::cmd("GET").arg(config.key(id)).to_owned(),
        StoreOp::Remove { id } => redis::cmd("DEL").arg(config.key(id)).to_owned(),
        StoreOp::Have { id } => redis::cmd("EXISTS").arg(config.key(id)).to_owned(),
    }
}

/// The answer to `op` from the server's reply.
fn interpret(op: &StoreOp, v: Value) -> StoreAnswer {
    match (op, v) {
        (StoreOp::Add { .. }, Value::Okay) => StoreAnswer::Yes,
        (StoreOp::Add { .. }, Value::SimpleString(s)) if s == "OK" => StoreAnswer::Yes,
        (StoreOp::Add { .. }, Value::Nil) => StoreAnswer::No,
        (StoreOp::Get { .. }, Value::BulkString(d)) => StoreAnswer::Data(d),
        (StoreOp::Get { .. }, Value::Nil) => StoreAnswer::No,
        (StoreOp::Remove { .. } | StoreOp::Have { .. }, Value::Int(n)) => {
            if n > 0 {
                StoreAnswer::Yes
            } else {
                StoreAnswer::No
            }
        }
        _ => StoreAnswer::Failed,
    }
}

/// Requests on one id run one after the other, in the order they came;
/// requests on different ids run at once. The Cluster router may retry a
/// request (MOVED, ASK, a reconnect to a node) after a later one on the
/// same key was sent, which would otherwise let a client's REMOVE
/// overtake its own ADD.
#[derive(Default)]
struct KeyOrder {
    /// Per id: the completion of the last request entered for it.
    last: HashMap<Vec<u8>, oneshot::Receiver<()>>,
    /// Size of `last` after its latest clean-up.
    kept: usize,
}

impl KeyOrder {
    /// Enters a request on `id`: what to wait for first (the request
    /// before it on the same id, if one may still run), and the sender
    /// to call once this one is answered.
    fn enter(&mut self, id: &[u8]) -> (Option<oneshot::Receiver<()>>, oneshot::Sender<()>) {
        if self.last.len() > 1024 && self.last.len() > 2 * self.kept {
            // Forget the ids whose last request is over.
            self.last.retain(|_, done| matches!(done.try_recv(), Err(oneshot::error::TryRecvError::Empty)));
            self.kept = self.last.len();
        }
        let (tx, rx) = oneshot::channel();
        (self.last.insert(id.to_vec(), rx), tx)
    }
}

impl Link {
    async fn execute(&self, op: StoreOp) -> StoreAnswer {
        let (Some(mut conn), generation) = self.conn.lock().clone() else {
            return StoreAnswer::Failed;
        };
        match tokio::time::timeout(self.config.timeout, conn.run(&self.config, &op)).await {
            // An answer that arrives on a connection already replaced may
            // have been overtaken by later requests sent on the new one
            // (a client's ADD executed after its REMOVE): only answers
            // from the current connection are trusted.
            Ok(Ok(_)) if self.conn.lock().1 != generation => StoreAnswer::Failed,
            Ok(Ok(v)) => {
                *self.last_success.lock() = Instant::now();
                interpret(&op, v)
            }
            Ok(Err(e)) => {
                // A Cluster router repairs its own node connections.
                let single = matches!(conn, Conn::Single(_));
                if single && (e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error()) {
                    self.broken();
                }
                StoreAnswer::Failed
            }
            Err(_) => {
                // A standalone connection that has answered nothing for a
                // whole timeout may be half-dead: start a fresh one (the
                // old one is kept until the new one is ready). One slow
                // answer among others is not a reason.
                let silent = self.last_success.lock().elapsed() >= self.config.timeout;
                if silent && matches!(conn, Conn::Single(_)) {
                    self.lost.notify_one();
                }
                StoreAnswer::Failed
            }
        }
    }

    /// The standalone connection failed: drop it and make a new one.
    fn broken(&self) {
        let mut conn = self.conn.lock();
        if conn.0.is_some() {
            conn.0 = None;
            conn.1 += 1;
        }
        drop(conn);
        self.lost.notify_one();
    }

    /// Keeps a connection up: waits until one is reported lost, then
    /// tries until a new one is made.
    async fn keep_connected(self: Arc<Self>, mut up: bool) {
        loop {
            if up {
                self.lost.notified().await;
            }
            let mut reported = false;
            loop {
                match connect(&self.config).await {
                    Ok(c) => {
                        {
                            let mut conn = self.conn.lock();
                            conn.0 = Some(c);
                            conn.1 += 1;
                        }
                        *self.last_success.lock() = Instant::now();
                        eprintln!("Info, cache store {}connected", if up { "re" } else { "" });
                        break;
                    }
                    Err(e) => {
                        if !reported && up {
                            eprintln!("Warning, cache store lost, reconnecting: {}", describe(&e));
                        }
                        reported = true;
                        if !up {
                            // The start-up message said so already.
                            up = true;
                        }
                        tokio::time::sleep(RETRY).await;
                    }
                }
            }
            up = true;
        }
    }
}

impl RedisStore {
    /// Starts the backend thread and makes the first connection attempt.
    /// Err for configuration mistakes (wrong password, untrusted
    /// certificate); an unreachable store is not an error.
    pub fn start(config: RedisConfig) -> Result<(Self, StartState), String> {
        install_crypto();
        let shared = Arc::new(Shared { done: Mutex::new(Vec::new()), notify: Mutex::new(None) });
        let (tx, mut rx) = mpsc::unbounded_channel::<(u64, StoreOp)>();
        let (first_tx, first_rx) = std::sync::mpsc::channel::<Result<StartState, String>>();
        let thread_shared = shared.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| format!("cannot start the cache thread's runtime: {e}"))?;
        let thread = std::thread::Builder::new()
            .name("dc-redis".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let first = connect(&config).await;
                    let link = Arc::new(Link {
                        config,
                        conn: Mutex::new((None, 0)),
                        lost: Notify::new(),
                        last_success: Mutex::new(Instant::now()),
                    });
                    let up = match first {
                        Ok(c) => {
                            link.conn.lock().0 = Some(c);
                            let _ = first_tx.send(Ok(StartState::Connected));
                            true
                        }
                        Err(e) if fatal(&e) => {
                            let _ = first_tx.send(Err(describe(&e)));
                            return;
                        }
                        Err(e) => {
                            let _ = first_tx.send(Ok(StartState::Unreachable(describe(&e))));
                            false
                        }
                    };
                    tokio::spawn(link.clone().keep_connected(up));
                    let mut order = KeyOrder::default();
                    while let Some((tag, op)) = rx.recv().await {
                        let link = link.clone();
                        let shared = thread_shared.clone();
                        let (before, done) = order.enter(op.id());
                        tokio::spawn(async move {
                            // The wait for the request before it counts
                            // against this request's own time limit.
                            let limit = link.config.timeout;
                            let run = async {
                                if let Some(before) = before {
                                    // Ends (or is dropped) when the request
                                    // before it on this id was answered.
                                    let _ = before.await;
                                }
                                link.execute(op).await
                            };
                            let answer = tokio::time::timeout(limit, run).await.unwrap_or(StoreAnswer::Failed);
                            let _ = done.send(());
                            shared.finish(tag, answer);
                        });
                    }
                });
            })
            .map_err(|e| format!("cannot start the cache thread: {e}"))?;
        match first_rx.recv() {
            Ok(Ok(state)) => Ok((Self { tx: Some(tx), shared, thread: Some(thread) }, state)),
            Ok(Err(msg)) => {
                let _ = thread.join();
                Err(msg)
            }
            Err(_) => {
                let _ = thread.join();
                Err("the cache thread ended unexpectedly".to_string())
            }
        }
    }
}

impl AsyncStore for RedisStore {
    fn set_notify(&mut self, notify: Box<dyn Fn() + Send + Sync>) {
        *self.shared.notify.lock() = Some(notify);
    }

    fn submit(&mut self, tag: u64, op: StoreOp) {
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send((tag, op)).is_ok());
        if !sent {
            self.shared.finish(tag, StoreAnswer::Failed);
        }
    }

    fn take_done(&mut self, out: &mut Vec<(u64, StoreAnswer)>) {
        let mut done = self.shared.done.lock();
        if out.is_empty() {
            std::mem::swap(out, &mut *done);
        } else {
            out.append(&mut done);
        }
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        // Closing the channel ends the thread's request loop.
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_on_one_id_wait_for_the_one_before() {
        let mut order = KeyOrder::default();
        let (first, first_done) = order.enter(b"a");
        assert!(first.is_none(), "nothing before the first request on an id");
        let (other, _other_done) = order.enter(b"b");
        assert!(other.is_none(), "another id does not wait");
        let (second, _second_done) = order.enter(b"a");
        let mut second = second.expect("the second request on an id waits for the first");
        assert!(matches!(second.try_recv(), Err(oneshot::error::TryRecvError::Empty)));
        first_done.send(()).unwrap();
        assert!(second.try_recv().is_ok(), "released once the first is answered");
    }

    #[test]
    fn finished_ids_are_forgotten() {
        let mut order = KeyOrder::default();
        for i in 0..5000u32 {
            let (_, done) = order.enter(&i.to_be_bytes());
            done.send(()).unwrap();
        }
        assert!(order.last.len() <= 2100, "{} ids kept", order.last.len());
        // One still running is kept.
        let (_, running) = order.enter(b"running");
        for i in 0..5000u32 {
            let (_, done) = order.enter(&(i + 10_000).to_be_bytes());
            done.send(()).unwrap();
        }
        assert!(order.last.contains_key(&b"running"[..]));
        drop(running);
    }
}
