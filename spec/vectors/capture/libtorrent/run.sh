#!/bin/bash
# Reproduce the libtorrent captures and their tshark decodes. Run as root.
# Uses /usr/bin/python3 (Debian, python3-libtorrent 2.0.8), tcpdump and tshark.
# Output goes to $1 (default /tmp/utp-captures/libtorrent); the scripts beside this file are used in place.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
export CAPTURE_OUT=${1:-/tmp/utp-captures/libtorrent}
mkdir -p "$CAPTURE_OUT/out"
cd "$CAPTURE_OUT"
for f in lt_run.py relay.py lt_listen.py bogus.py decode.sh hdr20.py summarize.py; do ln -sf "$HERE/$f" "$f"; done
PY=/usr/bin/python3
FILTER='portrange 41000-41100 or icmp'   # not only udp, so that any TCP would be visible

cap_start() { tcpdump -i lo -U -w "out/$1.pcap" "$FILTER" 2>"out/$1.tcpdump.log" & TPID=$!; sleep 1; }
cap_stop()  { sleep 1; kill -INT $TPID; wait $TPID; }

# a. plain download seeder 41001 <- downloader 41002
cap_start a_plain
$PY lt_run.py 41001 41002 41001 > out/a_plain.run.log 2>&1
cap_stop

# b. through lossy relay 41013 (drops every 7th seeder->downloader DATA datagram)
cap_start b_lossy
$PY relay.py 41013 41011 7 180 > out/b_lossy.relay.log 2>&1 & RPID=$!
sleep 0.5
SEED_NO_OUTGOING=1 $PY lt_run.py 41011 41012 41013 > out/b_lossy.run.log 2>&1
kill $RPID 2>/dev/null; wait $RPID 2>/dev/null
cap_stop

# c. hand-made packets from plain UDP socket 41022 to a libtorrent session at 41021
cap_start c_bogus
$PY lt_listen.py 41021 45 > out/c_bogus.lt.log 2>&1 & LPID=$!
sleep 4
$PY bogus.py 41022 41021 > out/c_bogus.run.log 2>&1
wait $LPID
cap_stop

# d. (extra) downloader removes the torrent at >=50% progress (abort mid-transfer)
cap_start d_abort
DL_RATE=200000 $PY lt_run.py 41031 41032 41031 0.5 > out/d_abort.run.log 2>&1
cap_stop

./decode.sh out/a_plain.pcap out/a_plain.tsv 41001 41002
./decode.sh out/b_lossy.pcap out/b_lossy.tsv 41011 41012 41013
./decode.sh out/c_bogus.pcap out/c_bogus.tsv 41021 41022
./decode.sh out/d_abort.pcap out/d_abort.tsv 41031 41032
for s in a_plain b_lossy c_bogus d_abort; do
  echo "$s: frames=$(tshark -r out/$s.pcap 2>/dev/null | wc -l) tcp=$(tshark -r out/$s.pcap -Y tcp 2>/dev/null | wc -l) icmp=$(tshark -r out/$s.pcap -Y icmp 2>/dev/null | wc -l) non-udp=$(tshark -r out/$s.pcap -Y '!udp' 2>/dev/null | wc -l)"
done | tee out/protocol_check.txt
/usr/bin/python3 summarize.py out/a_plain.tsv out/b_lossy.tsv out/c_bogus.tsv out/d_abort.tsv > out/summary.txt
