#!/bin/bash
# Regenerates spec/vectors/interop-*.toml: the handshake and close of every real peer with utp-tokio,
# in both roles, decoded by Wireshark's bt-utp dissector.
# Needs tshark and python3-libtorrent (apt-get install -y tshark python3-libtorrent).
# usage: tests/interop/scripts/capture_vectors.sh [WORK_DIR]   (run from anywhere)
#
# examples/capture.rs records each exchange through a transparent relay and writes one pcap per peer with
# fixed ports: our client 50001 -> the peer's listener 50002, then the peer's client 50003 -> our listener
# 50004. decode.sh and tsv_to_vectors.py are the tools the other captured vectors were made with.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
V="$ROOT/spec/vectors"
OUT=${1:-/tmp/utp-captures/interop}
rm -rf "$OUT"; mkdir -p "$OUT"
(cd "$ROOT" && cargo run --quiet -p utp-interop --example capture -- "$OUT")
T="$V/tools/tsv_to_vectors.py"
declare -A WHAT=(
  [libutp]="(libutp-rs2 0.1.4)"
  [librqbit-utp]="0.7.0"
  [utp-rs]="0.1.0-alpha.17"
  [libtorrent]="2.0.8 (python3-libtorrent), BitTorrent over uTP,"
)
for peer in libutp librqbit-utp utp-rs libtorrent; do
  bash "$V/capture/libtorrent/decode.sh" "$OUT/$peer.pcap" "$OUT/$peer.tsv" 50001 50002 50003 50004
  { python3 "$T" --per-kind 1 --ports "50002=$peer,50003=$peer" --label "interop-$peer" \
      --source "${WHAT[$peer]} with utp-tokio (listener 50002, client 50003), loopback" "$OUT/$peer.tsv"
    python3 "$T" --per-kind 1 --ports "50001=utp-core,50004=utp-core" --label "interop-$peer-ours" \
      --source "(utp-tokio) with $peer (client 50001, listener 50004), loopback" "$OUT/$peer.tsv" | tail -n +3
  } > "$V/interop-$peer.toml"
  echo "$V/interop-$peer.toml: $(grep -c '^\[\[packet' "$V/interop-$peer.toml") packets"
done
