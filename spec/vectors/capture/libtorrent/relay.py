#!/usr/bin/python3
"""Lossy UDP relay for uTP. usage: relay.py LISTEN_PORT SEED_PORT DROP_EVERY DURATION_S
Listens on 127.0.0.1:LISTEN_PORT. Datagrams from the seeder (127.0.0.1:SEED_PORT) are forwarded
to the last non-seeder client address; everything else is forwarded to the seeder.
In the seeder->client direction every DROP_EVERY-th *first transmission* of a uTP DATA datagram
(type nibble 0, seq_nr not seen before) is dropped; retransmissions are always forwarded (a fixed
every-Nth pattern otherwise kept hitting the same retransmitted packet and libtorrent timed the
connection out)."""
import socket, sys, time, select, signal
lport, sport, drop_every, dur = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
seed = ('127.0.0.1', sport)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', lport))
client = None
n_data = 0; dropped = 0; fwd = 0; seen = set(); n_retx = 0
log = open(os.path.join(os.environ.get('CAPTURE_OUT', '/tmp/utp-captures/libtorrent'), 'out', 'relay_%d.log') % lport, 'w')
end = time.time() + dur
def _stop(*_):
    global end
    end = 0
signal.signal(signal.SIGTERM, _stop)
while time.time() < end:
    r, _, _ = select.select([s], [], [], 0.2)
    if not r: continue
    pkt, addr = s.recvfrom(65536)
    if addr == seed:
        if client is None: continue
        if len(pkt) >= 20 and (pkt[0] >> 4) == 0:  # ST_DATA
            seq = int.from_bytes(pkt[16:18], 'big')
            if seq in seen:
                n_retx += 1
                s.sendto(pkt, client); fwd += 1
                continue
            seen.add(seq)
            n_data += 1
            if n_data % drop_every == 0:
                dropped += 1
                log.write('%.6f drop seeder->client DATA #%d len=%d head=%s\n' % (time.time(), n_data, len(pkt), pkt[:20].hex()))
                continue
        s.sendto(pkt, client); fwd += 1
    else:
        client = addr
        s.sendto(pkt, seed); fwd += 1
log.write('forwarded=%d seeder_new_data=%d retransmissions=%d dropped=%d\n' % (fwd, n_data, n_retx, dropped))
print('relay: forwarded=%d seeder_new_data=%d retransmissions=%d dropped=%d' % (fwd, n_data, n_retx, dropped), flush=True)
