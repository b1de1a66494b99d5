#!/bin/bash
# usage: decode.sh IN.pcap OUT.tsv PORT [PORT...]
# All uTP columns come straight from tshark's bt-utp dissector (forced on the given ports via -d).
set -e
in=$1; out=$2; shift 2
DA=(); for p in "$@"; do DA+=(-d "udp.port==$p,bt-utp"); done
Y='udp && !icmp'
FIELDS=(frame.number frame.time_relative udp.srcport udp.dstport frame.protocols _ws.col.Info
  bt-utp.ver bt-utp.type bt-utp.next_extension_type bt-utp.extension_len bt-utp.extension_bitmask
  bt-utp.extension_unknown bt-utp.connection_id bt-utp.timestamp_us bt-utp.timestamp_diff_us
  bt-utp.wnd_size bt-utp.seq_nr bt-utp.ack_nr bt-utp.len udp.length udp.payload)
EF=(); for f in "${FIELDS[@]}"; do EF+=(-e "$f"); done
TF=(-T fields -E header=y -E separator=/t -E occurrence=a -E aggregator=,)
# pass 1: uTP only (BitTorrent dissector disabled so the Info column is the uTP summary)
tshark -r "$in" "${DA[@]}" -Y "$Y" --disable-protocol bittorrent "${TF[@]}" "${EF[@]}" 2>/dev/null > "$out.p1"
# pass 2: Info column with the BitTorrent dissector enabled (what the payload carries)
tshark -r "$in" "${DA[@]}" -Y "$Y" "${TF[@]}" -e frame.number -e _ws.col.Info 2>/dev/null > "$out.p2"
# pass 3: fallback - fixed 20-byte header of every datagram (ext byte zeroed, see hdr20.py)
/usr/bin/python3 "$(dirname "$0")/hdr20.py" "$in" "$out.hdr20.pcap" "$@"
tshark -r "$out.hdr20.pcap" "${DA[@]}" -Y "$Y" --disable-protocol bittorrent "${TF[@]}" -e frame.number \
  -e bt-utp.ver -e bt-utp.type -e bt-utp.connection_id -e bt-utp.timestamp_us -e bt-utp.timestamp_diff_us \
  -e bt-utp.wnd_size -e bt-utp.seq_nr -e bt-utp.ack_nr 2>/dev/null > "$out.p3"
/usr/bin/python3 - "$out.p1" "$out.p2" "$out.p3" "$out" <<'PY'
import sys
rd = lambda p: [l.split('\t') for l in open(p).read().rstrip('\n').split('\n')]
a, b, c = rd(sys.argv[1]), rd(sys.argv[2]), rd(sys.argv[3])
assert len(a) == len(b) == len(c)
with open(sys.argv[4], 'w') as o:
    for fa, fb, fc in zip(a, b, c):
        assert fa[0] == fb[0] == fc[0]
        hdr = fa[0] == 'frame.number'
        decoded = 'tshark_bt-utp_decoded' if hdr else ('yes' if 'bt-utp' in fa[4].split(':') else 'NO')
        row = fa[:6] + [decoded, 'bittorrent_info' if hdr else fb[1]] + fa[6:]
        row += [('hdr20.' + x) if hdr else x for x in fc[1:]]
        o.write('\t'.join(row) + '\n')
PY
rm -f "$out.p1" "$out.p2" "$out.p3"
