#!/usr/bin/env python3
"""Turn a tshark field dump of a uTP capture into golden vectors (TOML).

Every decoded field in the output comes from Wireshark's `bt-utp` dissector
(an implementation independent of ours); this script only selects packets,
renames fields and, for SACKs, lists the sequence numbers a mask acknowledges
(bit i, LSB first in each byte, is ack_nr + 2 + i).

Input: a TSV made with
  tshark -r X.pcap -d udp.port==P,bt-utp ... -T fields -E header=y -E separator=/t \
         -E occurrence=a -E aggregator=, -e frame.number -e udp.srcport -e udp.dstport \
         -e bt-utp.ver -e bt-utp.type -e bt-utp.connection_id -e bt-utp.timestamp_us \
         -e bt-utp.timestamp_diff_us -e bt-utp.wnd_size -e bt-utp.seq_nr -e bt-utp.ack_nr \
         -e bt-utp.next_extension_type -e bt-utp.extension_len -e bt-utp.extension_bitmask \
         -e bt-utp.extension_unknown -e bt-utp.len -e udp.payload
(see capture/*/run.sh).

Usage:
  tsv_to_vectors.py --ports 40001=libutp,40002=libutp --label "libutp-a" \
      --source "libutp (libutp-rs2 0.1.4), loopback capture a" [--per-kind N] file.tsv
Packets are grouped by (sending stack, type, extension list, has payload) and the
first N of each group are kept (SACK masks: up to N distinct masks; SYN, FIN,
RESET: all). Identical datagrams (a relay's second leg) are kept once.
"""
import argparse
import sys

TYPES = {0: "DATA", 1: "FIN", 2: "STATE", 3: "RESET", 4: "SYN"}


def acked_by_mask(mask: bytes, ack_nr: int):
    out = []
    for i in range(len(mask) * 8):
        if mask[i // 8] & (1 << (i % 8)):
            out.append((ack_nr + 2 + i) & 0xFFFF)
    return out


def fill_from_hdr20(row, raw):
    """Fill the bt-utp.* columns of a row tshark could not decode."""
    if not row.get("hdr20.bt-utp.ver"):
        return False
    for f in ("ver", "type", "connection_id", "timestamp_us", "timestamp_diff_us", "wnd_size", "seq_nr", "ack_nr"):
        row["bt-utp." + f] = row["hdr20.bt-utp." + f]
    kind, rest, chain, mask, unknown = raw[1], raw[20:], [raw[1]], "", ""
    while kind != 0:
        nxt, ln = rest[0], rest[1]
        data = rest[2:2 + ln]
        if kind == 1:
            mask = data.hex()
        elif kind == 3:
            unknown = data.hex()
        chain.append(nxt)
        rest = rest[2 + ln:]
        kind = nxt
    row["bt-utp.next_extension_type"] = ",".join(map(str, chain))
    row["bt-utp.extension_bitmask"] = mask
    row["bt-utp.extension_unknown"] = unknown
    row["bt-utp.len"] = str(len(rest))
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", required=True, help="port=stack,... for senders")
    ap.add_argument("--label", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--per-kind", type=int, default=1)
    ap.add_argument("tsv", nargs="+")
    args = ap.parse_args()
    ports = dict(kv.split("=") for kv in args.ports.split(","))

    seen_hex = set()
    groups = {}
    out = []
    for path in args.tsv:
        with open(path) as f:
            header = f.readline().rstrip("\n").split("\t")
            for line in f:
                row = dict(zip(header, line.rstrip("\n").split("\t")))
                payload_hex = row["udp.payload"].replace(":", "")
                if row.get("tshark_bt-utp_decoded", "yes").lower() == "no":
                    # tshark 4.0.17 rejects SACKs under 4 bytes and any
                    # extension >= 3. Take the header fields from its decode of
                    # the 20-byte header alone (hdr20.* columns) and walk the
                    # extension chain here.
                    if not fill_from_hdr20(row, bytes.fromhex(payload_hex)):
                        continue
                    walked = True
                else:
                    walked = False
                if row.get("bt-utp.ver") != "1":
                    continue
                if payload_hex in seen_hex:
                    continue
                src = row["udp.srcport"]
                if src not in ports:
                    continue
                stack = ports[src]
                t = int(row["bt-utp.type"])
                chain = [int(x) for x in row["bt-utp.next_extension_type"].split(",") if x != ""]
                exts = chain[:-1] if chain and chain[-1] == 0 else chain
                plen = int(row["bt-utp.len"] or 0)
                mask_hex = row.get("bt-utp.extension_bitmask", "").replace(":", "")
                key = (stack, t, tuple(exts), plen > 0)
                if 1 in exts:
                    key = key + (mask_hex,)
                    distinct = sum(1 for k in groups if k[:4] == key[:4])
                    if key not in groups and distinct >= args.per_kind + 3:
                        continue
                limit = 10**9 if t in (1, 3, 4) else args.per_kind
                if groups.get(key, 0) >= limit:
                    continue
                groups[key] = groups.get(key, 0) + 1
                seen_hex.add(payload_hex)
                frame = row["frame.number"]
                name = f"{args.label}-{frame}-{TYPES[t].lower()}"
                v = [
                    "[[packet]]",
                    f'name = "{name}"',
                    f'source = "{stack} {args.source}, frame {frame}"',
                    f'direction = "{src} -> {row["udp.dstport"]}"',
                    f'hex = "{payload_hex}"',
                    f'type = "{TYPES[t]}"',
                    f'connection_id = {row["bt-utp.connection_id"]}',
                    f'timestamp = {row["bt-utp.timestamp_us"]}',
                    f'timestamp_difference = {row["bt-utp.timestamp_diff_us"]}',
                    f'window_size = {row["bt-utp.wnd_size"]}',
                    f'seq_nr = {row["bt-utp.seq_nr"]}',
                    f'ack_nr = {row["bt-utp.ack_nr"]}',
                    f"extensions = [{', '.join(map(str, exts))}]",
                ]
                if 1 in exts:
                    mask = bytes.fromhex(mask_hex)
                    v.append(f'sack_mask = "{mask_hex}"')
                    v.append(f"acked = {acked_by_mask(mask, int(row['bt-utp.ack_nr']))}")
                    if len(mask) % 4:
                        canon = bytes.fromhex(payload_hex)
                        # Our emitter pads the mask to a multiple of 4 bytes.
                        pad = (-len(mask)) % 4
                        at = 20
                        body = bytearray(canon[:20])
                        rest = canon[20:]
                        # Rebuild the chain with the padded SACK; other
                        # extensions are copied as they are.
                        kind = canon[1]
                        while kind != 0:
                            nxt, ln = rest[0], rest[1]
                            data = rest[2:2 + ln]
                            if kind == 1:
                                body += bytes([nxt, ln + pad]) + data + bytes(pad)
                            else:
                                body += bytes([nxt, ln]) + data
                            rest = rest[2 + ln:]
                            kind = nxt
                        body += rest
                        v.append(f'canonical_hex = "{body.hex()}"')
                if 3 in exts:
                    unknown = row.get("bt-utp.extension_unknown", "").replace(":", "")
                    reason = int(unknown[-4:], 16) if unknown else None
                    if reason is not None:
                        v.append(f"close_reason = {reason}")
                    if exts[0] == 3:
                        v.append('emit_error = "CloseReasonFirst"')
                if walked:
                    v.insert(2, 'note = "tshark 4.0.17 does not decode this packet (SACK under 4 bytes or extension 3): header fields are its decode of the 20-byte header, extension fields come from tsv_to_vectors.py walking the chain"')
                v.append(f"payload_len = {plen}")
                out.append("\n".join(v))
    print(f"# Generated by spec/vectors/tools/tsv_to_vectors.py from {', '.join(p.split('/')[-1] for p in args.tsv)}.")
    print("# Field values are Wireshark's bt-utp decoding of a real capture; see spec/vectors/README.md.\n")
    print("\n\n".join(out))


if __name__ == "__main__":
    main()
