#!/usr/bin/python3
"""A single uTP-only libtorrent session seeding a torrent on 127.0.0.1:PORT for DURATION seconds.
usage: lt_listen.py PORT DURATION"""
import libtorrent as lt, os, sys, time, shutil, hashlib
port, dur = int(sys.argv[1]), float(sys.argv[2])
base = os.path.join(os.environ.get('CAPTURE_OUT', '/tmp/utp-captures/libtorrent'), 'work_%d') % port
shutil.rmtree(base, ignore_errors=True); os.makedirs(base + '/seed')
data = b''.join(hashlib.sha256(i.to_bytes(4, 'big')).digest() for i in range(32768))
open(base + '/seed/payload.bin', 'wb').write(data)
fs = lt.file_storage(); lt.add_files(fs, base + '/seed/payload.bin')
ct = lt.create_torrent(fs, 16384); lt.set_piece_hashes(ct, base + '/seed')
ti = lt.torrent_info(ct.generate())
s = lt.session({'listen_interfaces': '127.0.0.1:%d' % port, 'outgoing_interfaces': '127.0.0.1',
    'enable_outgoing_tcp': False, 'enable_incoming_tcp': False,
    'enable_outgoing_utp': True, 'enable_incoming_utp': True,
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
    'alert_mask': lt.alert.category_t.all_categories})
s.add_torrent({'ti': ti, 'save_path': base + '/seed', 'flags': lt.torrent_flags.seed_mode})
log = open(os.path.join(os.environ.get('CAPTURE_OUT', '/tmp/utp-captures/libtorrent'), 'out', 'alerts_%d.log') % port, 'w')
print('listening', flush=True)
end = time.time() + dur
while time.time() < end:
    time.sleep(0.1)
    for a in s.pop_alerts():
        log.write('%.6f %s: %s\n' % (time.time(), a.what(), a.message()))
log.close()
