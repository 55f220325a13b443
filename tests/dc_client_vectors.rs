//! The client performs the twelve recorded operations in a fresh process
//! (so request uids run 1..12), one connection each, and must write exactly
//! the recorded requests and report the recorded API results.

mod common;

use common::replay::Replay;
use common::{cases, recorded};
use distcache_core::client::{Client, Flags, GetResult};

#[test]
fn client_writes_recorded_requests() {
    let replay = Replay::default();
    {
        let mut s = replay.0.lock().unwrap();
        for (case, req, resp) in recorded().into_iter().take(12) {
            s.exchanges.push_back((case.name.to_string(), req, resp));
        }
    }
    let client = Client::new(replay.clone(), Flags::from_bits(0)).unwrap();
    assert_eq!(replay.0.lock().unwrap().connects, 0);
    let mut results = Vec::new();
    for case in cases() {
        let r = match case.cmd {
            1 => format!("{:?}", client.add(&case.id, &case.data, case.timeout as u64)),
            2 => {
                let mut buf = vec![0u8; 40000];
                let r = client.get(&case.id, Some(&mut buf));
                if let Ok(GetResult::Found(n)) = r {
                    assert_eq!(&buf[..n], &case.reply[..], "{} data", case.name);
                }
                format!("{r:?}")
            }
            3 => format!("{:?}", client.remove(&case.id)),
            _ => format!("{:?}", client.has(&case.id)),
        };
        results.push(format!("{} {}", case.name, r));
    }
    let expect = [
        "add_small Ok(true)",
        "add_dup Ok(false)",
        "get_small Ok(Found(100))",
        "have_hit Ok(1)",
        "add_big Ok(true)",
        "get_big Ok(Found(5000))",
        "remove_hit Ok(true)",
        "remove_miss Ok(false)",
        "get_miss Ok(Missing)",
        "have_miss Ok(0)",
        "add_max Ok(true)",
        "get_max Ok(Found(32759))",
    ];
    assert_eq!(results, expect);
    let s = replay.0.lock().unwrap();
    assert!(s.mismatches.is_empty(), "{:?}", s.mismatches);
    assert!(s.exchanges.is_empty() && s.unmatched.is_empty());
    assert_eq!(s.connects, 12, "one connection per operation");
}
