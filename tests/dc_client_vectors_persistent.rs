//! The recorded persistent sequence in a fresh process (uids 1..4): one
//! connection, and the reget produces no traffic.

mod common;

use common::recorded;
use common::replay::Replay;
use distcache_core::client::{Client, Flags, GetResult};

#[test]
fn persistent_client_writes_recorded_requests() {
    let replay = Replay::default();
    let all = recorded();
    let seq = &all[12..];
    {
        let mut s = replay.0.lock().unwrap();
        for (case, req, resp) in seq {
            s.exchanges.push_back((case.name.to_string(), req.clone(), resp.clone()));
        }
    }
    let client = Client::new(replay.clone(), Flags::from_bits(Flags::PERSISTENT)).unwrap();
    assert_eq!(replay.0.lock().unwrap().connects, 1, "connected at creation");
    let (add, get, have, remove) = (&seq[0].0, &seq[1].0, &seq[2].0, &seq[3].0);
    assert_eq!(client.add(&add.id, &add.data, add.timeout as u64), Ok(true));
    assert_eq!(client.get(&get.id, None), Ok(GetResult::Found(300)));
    let left = replay.0.lock().unwrap().exchanges.len();
    let mut buf = [0u8; 400];
    assert_eq!(client.reget(&get.id, Some(&mut buf)), Some(300));
    assert_eq!(&buf[..300], &get.reply[..]);
    assert_eq!(replay.0.lock().unwrap().exchanges.len(), left, "reget is served locally");
    assert_eq!(client.has(&have.id), Ok(1));
    assert_eq!(client.remove(&remove.id), Ok(true));
    drop(client);
    let s = replay.0.lock().unwrap();
    assert!(s.mismatches.is_empty(), "{:?}", s.mismatches);
    assert!(s.exchanges.is_empty() && s.unmatched.is_empty());
    assert_eq!(s.connects, 1);
}
