#!/usr/bin/python3
"""Send hand-made uTP packets from a plain UDP socket to libtorrent at 127.0.0.1:TARGET,
from local port SRC. Prints every reply (hex). usage: bogus.py SRC TARGET
Header (BEP 29): type<<4|ver, ext, conn_id(u16), ts_us(u32), ts_diff(u32), wnd(u32), seq(u16), ack(u16)."""
import socket, struct, sys, time
src, dst = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', src)); s.settimeout(0.1)
T = ('127.0.0.1', dst)
def hdr(typ, conn, seq, ack, wnd=0x100000, ext=0):
    ts = int(time.monotonic() * 1e6) & 0xffffffff
    return struct.pack('>BBHIIIHH', (typ << 4) | 1, ext, conn, ts, 0, wnd, seq, ack)
def listen(sec, label):
    end = time.time() + sec
    got = 0
    while time.time() < end:
        try:
            d, a = s.recvfrom(65536)
        except socket.timeout:
            continue
        got += 1
        print('  %s: reply from %s len=%d type=%d: %s' % (label, a, len(d), d[0] >> 4, d.hex()), flush=True)
    if not got: print('  %s: no reply in %.1fs' % (label, sec), flush=True)
# 1. bogus DATA, random conn id 0x1234, 20-byte header + 4 bytes payload
p = hdr(0, 0x1234, 0x0101, 0x0202) + b'ABCD'
print('send bogus DATA', p.hex(), flush=True); s.sendto(p, T); listen(2, 'DATA')
# 1b. bogus DATA, header only
p = hdr(0, 0x4321, 0x0303, 0x0404)
print('send bogus DATA (no payload)', p.hex(), flush=True); s.sendto(p, T); listen(2, 'DATA0')
# 2. bogus STATE and FIN on unknown connection
p = hdr(2, 0x5555, 0x0505, 0x0606)
print('send bogus STATE', p.hex(), flush=True); s.sendto(p, T); listen(2, 'STATE')
p = hdr(1, 0x6666, 0x0707, 0x0808)
print('send bogus FIN', p.hex(), flush=True); s.sendto(p, T); listen(2, 'FIN')
# 3. SYN: conn id (recv_id) 0x7770, seq 0x1000, ack 0
p = hdr(4, 0x7770, 0x1000, 0x0000)
print('send SYN', p.hex(), flush=True); s.sendto(p, T)
# wait long enough to see libtorrent's retransmissions / handshake timeout / FIN
listen(25, 'SYN')
