#!/usr/bin/python3
"""Summarise out/*.tsv. Type/fixed-header info is taken from tshark columns (main pass, or the hdr20
fallback pass when tshark refused the datagram). The extension chain is taken from tshark when it
decoded the datagram; otherwise it is walked from the raw udp.payload bytes HERE (marked 'raw-walk')."""
import sys, collections
TN = {0: 'DATA', 1: 'FIN', 2: 'STATE', 3: 'RESET', 4: 'SYN'}
def walk(h):
    b = bytes.fromhex(h); ext = b[1]; off = 20; chain = []
    while ext and off + 2 <= len(b):
        nxt, ln = b[off], b[off + 1]
        chain.append((ext, ln, b[off + 2:off + 2 + ln].hex())); ext = nxt; off += 2 + ln
    return chain
for path in sys.argv[1:]:
    rows = [l.rstrip('\n').split('\t') for l in open(path)]
    H = rows[0]; ix = {h: i for i, h in enumerate(H)}
    types = collections.Counter(); chains = collections.Counter(); sack = collections.Counter()
    notdec = collections.Counter(); cr = []
    for r in rows[1:]:
        t = int(r[ix['hdr20.bt-utp.type']]); dec = r[ix['tshark_bt-utp_decoded']]
        d = (r[ix['udp.srcport']], r[ix['udp.dstport']])
        types[(TN[t], d)] += 1
        ch = walk(r[ix['udp.payload']])
        key = ' -> '.join('ext%d(len%d)' % (e, l) for e, l, _ in ch) or 'none'
        chains[(TN[t], key, dec)] += 1
        if dec != 'yes': notdec[(TN[t], key)] += 1
        for e, l, v in ch:
            if e == 1: sack[l] += 1
            if e == 3: cr.append((r[0], TN[t], d, [x[0] for x in ch].index(3), v, r[ix['hdr20.bt-utp.seq_nr']], r[ix['hdr20.bt-utp.ack_nr']]))
    print('=== %s (%d datagrams)' % (path, len(rows) - 1))
    for (t, d), n in sorted(types.items()): print('  type %-5s %s->%s: %d' % (t, d[0], d[1], n))
    print('  extension chains (raw-walk) / tshark decoded:')
    for (t, k, dec), n in sorted(chains.items()): print('    %-5s %-28s tshark=%s: %d' % (t, k, dec, n))
    print('  SACK lengths (raw-walk):', dict(sorted(sack.items())))
    for c in cr: print('  close-reason: frame %s %s %s->%s position_in_chain=%d payload=%s seq=%s ack=%s' % (c[0], c[1], c[2][0], c[2][1], c[3], c[4], c[5], c[6]))
