#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from
the recorded wire vectors (shared/vectors/, beside the repository).

    python3 tools/fuzz-seeds.py [VECTORS_DIR]

Each seed is a mode byte (see fuzz/src/lib.rs: how the stream is cut into
reads, and target options) followed by recorded bytes. File names are the
first 16 hex digits of the content's SHA-1, so rerunning is idempotent.
"""
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VECTORS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "vectors")
OUT = os.path.join(ROOT, "fuzz", "corpus")


def put(target, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frames_payload(stream):
    """(operation, payload) of the messages in a distcache byte stream."""
    out, pos, cur = [], 0, b""
    while pos + 14 <= len(stream):
        n = int.from_bytes(stream[pos + 12:pos + 14], "big")
        cur += stream[pos + 14:pos + 14 + n]
        if stream[pos + 11] == 1:
            out.append((stream[pos + 10], cur))
            cur = b""
        pos += 14 + n
    return out


dc = [json.loads(l) for l in open(os.path.join(VECTORS, "distcache-vectors.jsonl"))]
requests, responses = [], []
for case in dc:
    if "request" in case:
        requests.append(bytes.fromhex(case["request"]))
        responses.append(bytes.fromhex(case["response"]))
    else:
        c2s = b"".join(bytes.fromhex(e["hex"]) for e in case["exchanges"] if e["dir"] == "c2s")
        s2c = b"".join(bytes.fromhex(e["hex"]) for e in case["exchanges"] if e["dir"] == "s2c")
        requests.append(c2s)
        responses.append(s2c)

small = [r for r in requests if len(r) < 8000]
for mode in (0x00, 0x01, 0x42):
    for r in requests:
        put("dc_frame", bytes([mode]) + r)
        put("dc_plug_server", bytes([mode]) + r)
    for r in responses:
        put("dc_frame", bytes([mode | 0x80]) + r)
        put("dc_plug_client", bytes([mode]) + r)
# Several requests on one connection, as a persistent client sends them.
put("dc_plug_server", b"\x00" + b"".join(small))
put("dc_plug_server", b"\x83" + b"".join(small))
put("dc_plug_client", b"\x80" + responses[2])

records = []
for r in requests:
    for op, payload in frames_payload(r):
        rec = bytes([op]) + len(payload).to_bytes(2, "big") + payload
        records.append(rec)
        put("dc_payload", rec)
put("dc_payload", b"".join(x for x in records if len(x) < 4000))

esc = [json.loads(l) for l in open(os.path.join(VECTORS, "escrow-vectors.jsonl"))]
c2s = [bytes.fromhex(e["hex"]) for e in esc if e["dir"] == "c2s"]
s2c = [bytes.fromhex(e["hex"]) for e in esc if e["dir"] == "s2c"]
for i, msg in enumerate(c2s):
    fd = 0x40 if esc[[j for j, e in enumerate(esc) if e["dir"] == "c2s"][i]]["fd_attached"] else 0
    put("escrow_daemon", bytes([fd]) + msg)
put("escrow_daemon", b"\x00" + b"".join(c2s))
put("escrow_daemon", b"\x81" + b"".join(c2s))
put("escrow_daemon", b"\x03" + b"".join(c2s[:-1]))
for msg in s2c:
    put("escrow_client", b"\x00" + msg)
    put("escrow_client", b"\x20" + msg)
    put("escrow_client", b"\x40" + msg)
    put("escrow_client", b"\x60" + msg)
put("escrow_client", b"\x00" + b"".join(s2c))
put("escrow_client", b"\x81" + b"".join(s2c))

for text in [b"IP:9001", b"IP:127.0.0.1:9001", b"IPv4:127.0.0.1:9001", b"IP::9001", b"IP: +9001",
             b"IP:localhost:80", b"IPv6:9001", b"IPv6:[::1]:9001", b"IPv6:::1:9001", b"IPv6:[fe80::1%lo]:1",
             b"UNIX:/tmp/sock", b"UNIX:", b"FD:3", b"FD:3:4", b"FD:-1:4", b"FD: 3",
             b"IP:1.2.3.4:-0", b"IP:127.0.0.1:65536", b"UNIX:/" + b"a" * 200]:
    for mode in (0, 3):
        put("nal_address", bytes([mode]) + text)

put("nal_decode", bytes([4, 0, 1, 2, 3]) + bytes(range(64)))
put("nal_decode", bytes([8, 0x13, 0x27, 0x02, 0x01, 0x00, 0xff, 0x07, 0x03]) + b"".join(requests[:2]))
print("seeds written under", OUT)
