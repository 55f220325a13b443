//! Routing requests over a Valkey/Redis Cluster, one request at a time.
//!
//! The `redis` crate speaks RESP, authenticates and does TLS for each node
//! (one `MultiplexedConnection` per master, shared by every request to it).
//! This module only decides which master a key goes to, from the slot map
//! the cluster reports (`CLUSTER SLOTS`), and follows the cluster's
//! answers: `MOVED` (the slot has a new owner: remember it, try there),
//! `ASK` (the key is being migrated: send `ASKING` and the command to the
//! named node), `TRYAGAIN`/`CLUSTERDOWN`/`MASTERDOWN`/`LOADING` and
//! refused connections (wait a little, look at the slot map again, retry).
//!
//! Why not the `redis` crate's own Cluster client: while it refreshes its
//! slot map (after any `MOVED` or lost node) it holds back every request to
//! every node, so a resharding or the loss of one master made requests for
//! keys on healthy masters time out as well. Here a refresh runs beside the
//! requests; a request waits only on the node that owns its key.
//!
//! A request is retried only where the cluster did not run it (a
//! redirection, a refusal, a connection that could not be made), or where
//! running it twice changes nothing (GET, EXISTS). An ADD or REMOVE whose
//! connection broke after it was sent is answered as failed. The caller
//! bounds every request by its timeout.

use super::RedisConfig;
use parking_lot::Mutex;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{RedisError, ServerErrorKind, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Number of hash slots in a cluster.
const SLOTS: usize = 16384;
/// Pause before retrying a request the cluster could not take yet.
const STEP: Duration = Duration::from_millis(20);
/// A node that refused a connection is not tried again sooner.
const NODE_BACKOFF: Duration = Duration::from_millis(100);
/// Slot map refreshes are at least this far apart.
const REFRESH_SPACING: Duration = Duration::from_millis(100);
/// Redirections followed by one request before it is given up.
const MAX_REDIRECTS: usize = 16;

/// The hash slot of a key (CRC16/XMODEM of the key, or of its `{hash tag}`
/// when it has a non-empty one), as the cluster computes it.
pub fn slot_of(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        rest.iter().position(|&b| b == b'}').filter(|&close| close > 0).map(|close| &rest[..close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tagged.unwrap_or(key)) % SLOTS as u16
}

struct Node {
    addr: (String, u16),
    /// The connection and its number (counted per node), so that a
    /// request seeing it break drops that one and not a newer one.
    conn: Option<(MultiplexedConnection, u64)>,
    made: u64,
    /// When a connection to it last failed.
    failed: Option<Instant>,
    /// Held while connecting, so that concurrent requests make one
    /// connection.
    connecting: Arc<tokio::sync::Mutex<()>>,
}

struct Table {
    nodes: Vec<Node>,
    /// Slot → index into `nodes` of the master serving it.
    owner: Vec<Option<usize>>,
}

impl Table {
    fn node(&mut self, addr: &(String, u16)) -> usize {
        if let Some(i) = self.nodes.iter().position(|n| &n.addr == addr) {
            return i;
        }
        self.nodes.push(Node {
            addr: addr.clone(),
            conn: None,
            made: 0,
            failed: None,
            connecting: Arc::new(tokio::sync::Mutex::new(())),
        });
        self.nodes.len() - 1
    }
}

/// What happened to one attempt of a request.
enum Attempt {
    Done(Result<Value, RedisError>),
    /// Not run by the cluster: try again (after a pause if `wait`).
    Again {
        wait: bool,
    },
    /// Sent to this node instead, preceded by `ASKING`.
    Ask(usize),
}

/// A Cluster connection (see the module docs). Cheap to share: every
/// request task holds an `Arc` of it.
pub struct Router {
    config: RedisConfig,
    table: Mutex<Table>,
    /// Asks the refresher for a new slot map.
    refresh: Arc<Notify>,
}

impl Router {
    /// Learns the slot map from the first seed node that answers, and
    /// starts the background refresher. The error is the first seed's
    /// (a configuration mistake such as a wrong password shows there).
    pub async fn connect(config: RedisConfig) -> Result<Arc<Self>, RedisError> {
        let router = Arc::new(Router {
            table: Mutex::new(Table { nodes: Vec::new(), owner: vec![None; SLOTS] }),
            refresh: Arc::new(Notify::new()),
            config,
        });
        router.refresh_now().await?;
        tokio::spawn(Self::refresher(Arc::downgrade(&router), router.refresh.clone()));
        Ok(router)
    }

    /// Runs `cmd` on the master owning `key`. `repeatable`: the command
    /// may run twice without harm (GET, EXISTS).
    pub async fn run(&self, key: &[u8], cmd: &redis::Cmd, repeatable: bool) -> Result<Value, RedisError> {
        let slot = slot_of(key) as usize;
        let mut ask: Option<usize> = None;
        let mut redirects = 0;
        loop {
            let node = match ask.take() {
                Some(n) => Ok((n, true)),
                None => self.table.lock().owner[slot].map(|n| (n, false)).ok_or(()),
            };
            let attempt = match node {
                Ok((node, asking)) => self.attempt(node, slot, cmd, asking, repeatable).await,
                Err(()) => {
                    // The cluster reported no master for this slot (yet).
                    self.refresh.notify_one();
                    Attempt::Again { wait: true }
                }
            };
            match attempt {
                Attempt::Done(result) => return result,
                Attempt::Again { wait } => {
                    if wait {
                        tokio::time::sleep(STEP).await;
                    } else {
                        redirects += 1;
                    }
                }
                Attempt::Ask(node) => {
                    redirects += 1;
                    ask = Some(node);
                }
            }
            if redirects > MAX_REDIRECTS {
                return Err(RedisError::from((redis::ErrorKind::Client, "too many cluster redirections")));
            }
        }
    }

    async fn attempt(&self, node: usize, slot: usize, cmd: &redis::Cmd, asking: bool, repeatable: bool) -> Attempt {
        let (mut conn, number) = match self.connection(node).await {
            Ok(c) => c,
            // Never sent: fine to retry whatever the command.
            Err(e) if super::fatal(&e) => return Attempt::Done(Err(e)),
            Err(_) => {
                self.refresh.notify_one();
                return Attempt::Again { wait: true };
            }
        };
        let result = if asking {
            let mut pipe = redis::pipe();
            pipe.cmd("ASKING").add_command(cmd.clone());
            conn.req_packed_commands(&pipe, 1, 1).await.and_then(|mut v| {
                v.pop().ok_or_else(|| RedisError::from((redis::ErrorKind::Client, "no answer after ASKING")))
            })
        } else {
            conn.req_packed_command(cmd).await
        }
        .and_then(Value::extract_error);
        let e = match result {
            Ok(v) => return Attempt::Done(Ok(v)),
            Err(e) => e,
        };
        match e.kind() {
            redis::ErrorKind::Server(ServerErrorKind::Moved) => {
                let Some(addr) = redirect_target(&e) else { return Attempt::Done(Err(e)) };
                let mut table = self.table.lock();
                let to = table.node(&addr);
                table.owner[slot] = Some(to);
                drop(table);
                // Other slots probably moved with this one.
                self.refresh.notify_one();
                Attempt::Again { wait: false }
            }
            redis::ErrorKind::Server(ServerErrorKind::Ask) => match redirect_target(&e) {
                Some(addr) => Attempt::Ask(self.table.lock().node(&addr)),
                None => Attempt::Done(Err(e)),
            },
            redis::ErrorKind::Server(
                ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::MasterDown
                | ServerErrorKind::BusyLoading,
            ) => {
                self.refresh.notify_one();
                Attempt::Again { wait: true }
            }
            _ if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() => {
                // The connection is gone; the command may or may not have
                // run.
                self.drop_connection(node, number);
                self.refresh.notify_one();
                if repeatable {
                    Attempt::Again { wait: true }
                } else {
                    Attempt::Done(Err(e))
                }
            }
            _ => Attempt::Done(Err(e)),
        }
    }

    /// The node's connection, made if there is none.
    async fn connection(&self, node: usize) -> Result<(MultiplexedConnection, u64), RedisError> {
        let gate = {
            let table = self.table.lock();
            let n = &table.nodes[node];
            if let Some(c) = &n.conn {
                return Ok(c.clone());
            }
            if n.failed.is_some_and(|t| t.elapsed() < NODE_BACKOFF) {
                return Err(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "cluster node down").into());
            }
            n.connecting.clone()
        };
        let _connecting = gate.lock().await;
        let addr = {
            let table = self.table.lock();
            let n = &table.nodes[node];
            if let Some(c) = &n.conn {
                return Ok(c.clone());
            }
            n.addr.clone()
        };
        let made = super::connect_node(&self.config, &addr).await;
        let mut table = self.table.lock();
        let n = &mut table.nodes[node];
        match made {
            Ok(c) => {
                n.made += 1;
                n.conn = Some((c.clone(), n.made));
                n.failed = None;
                Ok((c, n.made))
            }
            Err(e) => {
                n.failed = Some(Instant::now());
                Err(e)
            }
        }
    }

    fn drop_connection(&self, node: usize, number: u64) {
        let mut table = self.table.lock();
        let n = &mut table.nodes[node];
        // Only if no other request replaced it already.
        if n.conn.as_ref().is_some_and(|(_, made)| *made == number) {
            n.conn = None;
        }
    }

    /// Asks the known masters, then the seed nodes, for the slot map and
    /// installs the first answer.
    async fn refresh_now(&self) -> Result<(), RedisError> {
        let candidates: Vec<usize> = {
            let mut table = self.table.lock();
            let mut order: Vec<usize> = Vec::new();
            let mut masters: Vec<usize> = table.owner.iter().flatten().copied().collect();
            masters.sort_unstable();
            masters.dedup();
            // Nodes that answered lately first.
            masters.sort_by_key(|&i| table.nodes[i].failed.is_some());
            order.extend(masters);
            for seed in self.config.nodes.clone() {
                let i = table.node(&seed);
                if !order.contains(&i) {
                    order.push(i);
                }
            }
            order
        };
        let mut first_error = None;
        for node in candidates {
            let answer = async {
                let (mut conn, _) = self.connection(node).await?;
                conn.req_packed_command(&redis::cmd("CLUSTER").arg("SLOTS").to_owned())
                    .await
                    .and_then(Value::extract_error)
            };
            let err = match tokio::time::timeout(self.config.timeout, answer).await {
                Ok(Ok(v)) => match parse_slots(&v, &self.host_of(node)) {
                    Some(ranges) if !ranges.is_empty() => {
                        self.install(ranges);
                        return Ok(());
                    }
                    _ => RedisError::from((redis::ErrorKind::Client, "unexpected answer to CLUSTER SLOTS")),
                },
                Ok(Err(e)) => e,
                Err(_) => std::io::Error::from(std::io::ErrorKind::TimedOut).into(),
            };
            first_error.get_or_insert(err);
        }
        Err(first_error.unwrap_or_else(|| RedisError::from((redis::ErrorKind::Client, "no cluster node given"))))
    }

    fn host_of(&self, node: usize) -> String {
        self.table.lock().nodes[node].addr.0.clone()
    }

    fn install(&self, ranges: Vec<SlotRange>) {
        let mut table = self.table.lock();
        let mut owner = vec![None; SLOTS];
        for (start, end, addr) in ranges {
            let n = table.node(&addr);
            for o in &mut owner[start as usize..=(end as usize).min(SLOTS - 1)] {
                *o = Some(n);
            }
        }
        table.owner = owner;
    }

    /// Refreshes the slot map whenever a request asks for it, at most
    /// once per `REFRESH_SPACING`; ends with the router.
    async fn refresher(router: std::sync::Weak<Router>, wanted: Arc<Notify>) {
        loop {
            // The router may be dropped while waiting: look now and then.
            let asked = tokio::time::timeout(Duration::from_secs(1), wanted.notified()).await.is_ok();
            let Some(r) = router.upgrade() else { return };
            if !asked {
                continue;
            }
            let _ = r.refresh_now().await;
            drop(r);
            tokio::time::sleep(REFRESH_SPACING).await;
        }
    }
}

/// The node named by a MOVED/ASK error ("host:port").
fn redirect_target(e: &RedisError) -> Option<(String, u16)> {
    let (addr, _slot) = e.redirect_node()?;
    let (host, port) = addr.rsplit_once(':')?;
    Some((host.trim_start_matches('[').trim_end_matches(']').to_string(), port.parse().ok()?))
}

/// First slot, last slot, master.
type SlotRange = (u16, u16, (String, u16));

/// `CLUSTER SLOTS`: [[start, end, [host, port, id, ...], replicas...], ...]
/// → (start, end, master). An empty host means the node that answered.
fn parse_slots(v: &Value, asked_host: &str) -> Option<Vec<SlotRange>> {
    let Value::Array(entries) = v else { return None };
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Array(fields) = entry else { return None };
        let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(master))) =
            (fields.first(), fields.get(1), fields.get(2))
        else {
            return None;
        };
        let host = match master.first()? {
            Value::BulkString(b) => String::from_utf8(b.clone()).ok()?,
            Value::SimpleString(s) => s.clone(),
            _ => return None,
        };
        let Some(Value::Int(port)) = master.get(1) else { return None };
        let host = if host.is_empty() || host == "?" { asked_host.to_string() } else { host };
        out.push((u16::try_from(*start).ok()?, u16::try_from(*end).ok()?, (host, u16::try_from(*port).ok()?)));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_as_the_cluster_computes_them() {
        // Values from CLUSTER KEYSLOT on a real server.
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"bar"), 5061);
        assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"user1000"));
        // An empty tag is no tag: the whole key counts.
        assert_eq!(slot_of(b"foo{}{bar}"), crc16::State::<crc16::XMODEM>::calculate(b"foo{}{bar}") % 16384);
        assert_eq!(slot_of(b"foo{{bar}}zap"), slot_of(b"{bar"));
    }

    #[test]
    fn slot_map_answers_are_read() {
        let node = |h: &str, p| {
            Value::Array(vec![Value::BulkString(h.into()), Value::Int(p), Value::BulkString(b"id".to_vec())])
        };
        let v = Value::Array(vec![
            Value::Array(vec![Value::Int(0), Value::Int(5460), node("127.0.0.1", 7000), node("127.0.0.1", 7003)]),
            Value::Array(vec![Value::Int(5461), Value::Int(16383), node("", 7001)]),
        ]);
        let got = parse_slots(&v, "10.0.0.9").unwrap();
        assert_eq!(got[0], (0, 5460, ("127.0.0.1".to_string(), 7000)));
        assert_eq!(got[1], (5461, 16383, ("10.0.0.9".to_string(), 7001)));
        assert!(parse_slots(&Value::Okay, "h").is_none());
        assert!(parse_slots(&Value::Array(vec![Value::Array(vec![Value::Int(0)])]), "h").is_none());
    }
}
