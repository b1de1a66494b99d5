#!/usr/bin/python3
"""Standard-library pcap rewriter used only as a *fallback* for tshark.
tshark 4.0's bt-utp dissector refuses datagrams whose extension chain contains a SACK whose length is
not a multiple of 4, or any extension type >= 3 (libtorrent's close-reason ext 3). This writes a copy
of the pcap (same link type, same frame order/numbering) in which every UDP datagram between the
given ports is cut to its 20-byte fixed uTP header with the 'extension' byte (offset 1) set to 0, so
tshark will decode the fixed header fields of every datagram. usage: hdr20.py IN.pcap OUT.pcap PORT..."""
import struct, sys
src, dst = sys.argv[1], sys.argv[2]
ports = set(int(p) for p in sys.argv[3:])
f = open(src, 'rb'); o = open(dst, 'wb')
gh = f.read(24); o.write(gh)
magic, = struct.unpack('<I', gh[:4]); assert magic == 0xa1b2c3d4, 'expects little-endian usec pcap'
linktype, = struct.unpack('<I', gh[20:24]); assert linktype == 1, 'expects Ethernet (DLT 1)'
while True:
    rh = f.read(16)
    if len(rh) < 16: break
    ts, tu, incl, orig = struct.unpack('<IIII', rh)
    d = f.read(incl)
    eth, ip = d[:14], d[14:]
    if eth[12:14] == b'\x08\x00' and ip[9] == 17:
        ihl = (ip[0] & 15) * 4
        sp, dp = struct.unpack('>HH', ip[ihl:ihl + 4])
        pl = ip[ihl + 8:]
        if (sp in ports or dp in ports) and len(pl) >= 20:
            npl = pl[0:1] + b'\x00' + pl[2:20]
            udp = struct.pack('>HHHH', sp, dp, 8 + len(npl), 0) + npl
            iph = bytearray(ip[:ihl]); iph[2:4] = struct.pack('>H', ihl + len(udp)); iph[10:12] = b'\0\0'
            s = sum(struct.unpack('>%dH' % (ihl // 2), bytes(iph)))
            while s >> 16: s = (s & 0xffff) + (s >> 16)
            iph[10:12] = struct.pack('>H', ~s & 0xffff)
            d = eth + bytes(iph) + udp
    o.write(struct.pack('<IIII', ts, tu, len(d), len(d)) + d)
o.close()
