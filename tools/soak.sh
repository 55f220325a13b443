#!/bin/sh
# Soak and fault-injection run of dc_server + dc_client (examples/soak.rs).
#
#   SOAK_SECONDS=1800 sh tools/soak.sh            30 minutes, no faults
#   SOAK_SECONDS=600 SOAK_FAULTS=1 sh tools/soak.sh   with kill -9/restart,
#                                                 garbage and half-written requests
#
# Other settings: SOAK_WORKERS (16), SOAK_SESSIONS (dc_server -sessions, 256),
# SOAK_IDS (ids per worker, 20), SOAK_WARMUP (seconds excluded from the
# RSS/descriptor figures; default a sixth of the run, at most 300),
# SOAK_DIR (work directory; default a fresh temporary one, removed after a
# passing run), SERVER_BIN / CLIENT_BIN (default: this tree's release build).
# Prints the figures, PASS/FAIL lines and "N passed, N failed"; the samples
# (RSS, descriptors, operations every 5 s) are in SOAK_DIR/samples.csv.
set -u
HERE=$(cd "$(dirname "$0")/.." && pwd)
cd "$HERE" || exit 1
if [ -z "${SERVER_BIN:-}" ] || [ -z "${CLIENT_BIN:-}" ]; then
	cargo build --release --bin dc_server --bin dc_client -q || exit 1
fi
cargo build --release --example soak -q || exit 1
SERVER_BIN=${SERVER_BIN:-$HERE/target/release/dc_server}
CLIENT_BIN=${CLIENT_BIN:-$HERE/target/release/dc_client}
own_dir=0
if [ -z "${SOAK_DIR:-}" ]; then SOAK_DIR=$(mktemp -d /tmp/dc-soak.XXXXXX); own_dir=1; fi
mkdir -p "$SOAK_DIR"
set -- -server "$SERVER_BIN" -client "$CLIENT_BIN" -dir "$SOAK_DIR" \
	-seconds "${SOAK_SECONDS:-60}" -workers "${SOAK_WORKERS:-16}" \
	-sessions "${SOAK_SESSIONS:-256}" -ids "${SOAK_IDS:-20}" -faults "${SOAK_FAULTS:-0}"
[ -n "${SOAK_WARMUP:-}" ] && set -- "$@" -warmup "$SOAK_WARMUP"
"$HERE/target/release/examples/soak" "$@"
rc=$?
if [ "$rc" -eq 0 ] && [ "$own_dir" -eq 1 ]; then rm -rf "$SOAK_DIR"; else echo "work directory: $SOAK_DIR"; fi
exit "$rc"
