#!/bin/bash
# Reproduce the uTP loopback captures and their tshark decodes.
# Requires: cargo, tcpdump, tshark (Debian 12: tshark 4.0.17). Run as root.
set -euo pipefail
# Output goes to $1 (default /tmp/utp-captures/libutp); then turn the TSVs into
# vectors with ../../tools/tsv_to_vectors.py (see spec/vectors/README.md).
HERE=$(cd "$(dirname "$0")" && pwd)
D=${1:-/tmp/utp-captures/libutp}
cargo build --release --manifest-path "$HERE/Cargo.toml" --target-dir "$D/target"
BIN="$D/target/release/utpcap"
mkdir -p "$D/out" "$D/pcap" "$D/logs"

# ports used per scenario (all get forced to the bt-utp dissector)
declare -A PORTS=(
  [a]="40001 40002"
  [b]="40011 40012 40013 40014"
  [c]="40021 40022 40023"
  [d1]="40031 40032"
  [d2]="40041 40042"
)
declare -A NAME=(
  [a]=a_libutp_to_libutp
  [b]=b_libutp_relay_loss
  [c]=c_libutp_reset_and_syn
  [d1]=d1_librqbit_client_to_libutp
  [d2]=d2_libutp_client_to_librqbit
)

FIELDS=(frame.number frame.time_relative udp.srcport udp.dstport udp.length
  bt-utp.ver bt-utp.type bt-utp.connection_id
  bt-utp.timestamp_us bt-utp.timestamp_diff_us bt-utp.wnd_size
  bt-utp.seq_nr bt-utp.ack_nr
  bt-utp.next_extension_type bt-utp.extension_len bt-utp.extension_bitmask bt-utp.extension_unknown
  bt-utp.len bt-utp.stream
  _ws.col.Protocol _ws.col.Info udp.payload)

for s in a b c d1 d2; do
  n=${NAME[$s]}
  pcap="$D/pcap/$n.pcap"
  rm -f "$pcap"
  tcpdump -i lo -U -s 0 -w "$pcap" 'udp and portrange 40000-40100' 2>"$D/logs/$n.tcpdump.log" &
  TP=$!
  sleep 2
  "$BIN" "$s" >"$D/logs/$n.prog.log" 2>&1 || echo "scenario $s FAILED (see logs/$n.prog.log)"
  sleep 1
  kill -INT "$TP"; wait "$TP" || true

  dargs=()
  for p in ${PORTS[$s]}; do dargs+=(-d "udp.port==$p,bt-utp"); done
  fargs=()
  for f in "${FIELDS[@]}"; do fargs+=(-e "$f"); done
  # -E occurrence=a: all occurrences (multiple extensions) joined with ','
  tshark -r "$pcap" "${dargs[@]}" -T fields -E header=y -E separator=/t -E occurrence=a -E aggregator=, \
     "${fargs[@]}" > "$D/out/$n.tsv" 2>"$D/logs/$n.tshark.log"
  tshark -r "$pcap" "${dargs[@]}" -V > "$D/out/$n.verbose.txt" 2>>"$D/logs/$n.tshark.log"
  echo "$s: $(($(wc -l < "$D/out/$n.tsv") - 1)) datagrams -> out/$n.tsv"
done
