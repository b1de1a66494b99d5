#!/bin/bash
# Rebuild the captured vector files from tshark TSVs made by capture/*/run.sh.
# Usage: regenerate.sh [LIBUTP_OUT_DIR] [LIBTORRENT_OUT_DIR]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
V=$(dirname "$HERE")
T="$HERE/tsv_to_vectors.py"
U=${1:-/tmp/utp-captures/libutp}/out
L=${2:-/tmp/utp-captures/libtorrent}/out

{ python3 "$T" --per-kind 2 --ports 40001=libutp,40002=libutp --label libutp-plain \
    --source "(libutp-rs2 0.1.4) client to libutp listener, loopback" "$U/a_libutp_to_libutp.tsv"
  python3 "$T" --per-kind 1 --ports 40011=libutp,40012=libutp --label libutp-lossy \
    --source "(libutp-rs2 0.1.4) through a relay dropping every 7th DATA, loopback" "$U/b_libutp_relay_loss.tsv" | tail -n +3
  python3 "$T" --per-kind 1 --ports 40021=libutp --label libutp-unknown-conn \
    --source "(libutp-rs2 0.1.4) listener answering hand-made packets, loopback" "$U/c_libutp_reset_and_syn.tsv" | tail -n +3
} > "$V/libutp.toml"

{ python3 "$T" --per-kind 1 --ports 40032=librqbit-utp --label librqbit-client \
    --source "0.7.0 client to a libutp listener, loopback" "$U/d1_librqbit_client_to_libutp.tsv"
  python3 "$T" --per-kind 1 --ports 40041=librqbit-utp --label librqbit-listener \
    --source "0.7.0 listener with a libutp client, loopback" "$U/d2_libutp_client_to_librqbit.tsv" | tail -n +3
} > "$V/librqbit-utp.toml"

{ python3 "$T" --per-kind 2 --ports 41001=libtorrent,41002=libtorrent --label libtorrent-plain \
    --source "2.0.8 (python3-libtorrent) downloader and seeder, loopback" "$L/a_plain.tsv"
  python3 "$T" --per-kind 1 --ports 41011=libtorrent,41012=libtorrent --label libtorrent-lossy \
    --source "2.0.8 (python3-libtorrent) through a relay dropping every 7th first transmission, loopback" "$L/b_lossy.tsv" | tail -n +3
  python3 "$T" --per-kind 1 --ports 41021=libtorrent --label libtorrent-handmade-peer \
    --source "2.0.8 (python3-libtorrent) answering a hand-made SYN, loopback" "$L/c_bogus.tsv" | tail -n +3
  python3 "$T" --per-kind 1 --ports 41031=libtorrent,41032=libtorrent --label libtorrent-removed \
    --source "2.0.8 (python3-libtorrent), downloader removes the torrent mid-transfer, loopback" "$L/d_abort.tsv" | tail -n +3
} > "$V/libtorrent.toml"
