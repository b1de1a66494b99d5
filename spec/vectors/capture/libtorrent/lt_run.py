#!/usr/bin/python3
"""Drive two libtorrent sessions over uTP on loopback.
usage: lt_run.py SEED_PORT DL_PORT CONNECT_PORT [STOP_FRACTION]
CONNECT_PORT = port the downloader connects to (seed port, or relay port).
STOP_FRACTION (optional, e.g. 0.5): remove the torrent on the downloader as soon as
progress >= this fraction (abort mid-transfer) instead of waiting for completion."""
import libtorrent as lt, os, sys, time, shutil, hashlib

seed_port, dl_port, connect_port = map(int, sys.argv[1:4])
stop_fraction = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
log = open(os.path.join(os.environ.get('CAPTURE_OUT', '/tmp/utp-captures/libtorrent'), 'out', 'alerts_%d.log') % seed_port, 'w')
base = os.path.join(os.environ.get('CAPTURE_OUT', '/tmp/utp-captures/libtorrent'), 'work_%d') % seed_port
shutil.rmtree(base, ignore_errors=True)
os.makedirs(base + '/seed'); os.makedirs(base + '/dl')
# deterministic ~1 MiB file
data = b''.join(hashlib.sha256(i.to_bytes(4, 'big')).digest() for i in range(32768))
with open(base + '/seed/payload.bin', 'wb') as f: f.write(data)

fs = lt.file_storage()
lt.add_files(fs, base + '/seed/payload.bin')
ct = lt.create_torrent(fs, 16384)
lt.set_piece_hashes(ct, base + '/seed')
ti = lt.torrent_info(ct.generate())

def mk(port, extra=None):
    return lt.session(dict({
        'listen_interfaces': '127.0.0.1:%d' % port,
        'outgoing_interfaces': '127.0.0.1',
        'enable_outgoing_tcp': False, 'enable_incoming_tcp': False,
        'enable_outgoing_utp': True, 'enable_incoming_utp': True,
        'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
        'allow_multiple_connections_per_ip': True,
        'alert_mask': lt.alert.category_t.all_categories,
        'user_agent': 'capture-lt',
    }, **(extra or {})))

def drain(s, tag):
    for a in s.pop_alerts():
        log.write('%.6f [%s] %s: %s\n' % (time.time(), tag, a.what(), a.message()))
        if a.what() in ('peer_disconnected', 'peer_connect', 'incoming_connection',
                        'torrent_finished', 'listen_succeeded', 'listen_failed',
                        'peer_error', 'torrent_removed') or a.what().startswith('peer_disconnected'):
            print('[%s] %s: %s' % (tag, a.what(), a.message()), flush=True)

# env knobs: SEED_NO_OUTGOING=1 -> seeder may not open outgoing uTP connections (so it cannot
# bypass a relay by dialling the downloader's advertised listen port); DL_RATE=bytes/s -> download rate limit
seed = mk(seed_port, {'enable_outgoing_utp': False} if os.environ.get('SEED_NO_OUTGOING') == '1' else None)
dl = mk(dl_port)
hs = seed.add_torrent({'ti': ti, 'save_path': base + '/seed', 'flags': lt.torrent_flags.seed_mode})
hd = dl.add_torrent({'ti': lt.torrent_info(ti), 'save_path': base + '/dl'})
if os.environ.get('DL_RATE'):
    # loopback peers are in the unlimited 'local' peer class, so session-wide limits do not apply;
    # per-torrent limits do
    hd.set_download_limit(int(os.environ['DL_RATE'])); hs.set_upload_limit(int(os.environ['DL_RATE']))
time.sleep(1.0)
drain(seed, 'seed'); drain(dl, 'dl')
hd.connect_peer(('127.0.0.1', connect_port))
t0 = time.time()
while time.time() - t0 < 120:
    time.sleep(0.2)
    drain(seed, 'seed'); drain(dl, 'dl')
    st = hd.status()
    if st.is_seeding or st.progress >= stop_fraction:
        break
st = hd.status()
print('download progress %.3f after %.1fs, state=%s' % (st.progress, time.time() - t0, st.state), flush=True)
time.sleep(0.5)
drain(seed, 'seed'); drain(dl, 'dl')
# close connections: remove the torrent on the downloader side -> graceful close
dl.remove_torrent(hd)
t1 = time.time()
while time.time() - t1 < 5:
    time.sleep(0.2)
    drain(seed, 'seed'); drain(dl, 'dl')
seed.remove_torrent(hs)
time.sleep(1)
drain(seed, 'seed'); drain(dl, 'dl')
# verify
ok = False
p = base + '/dl/payload.bin'
if os.path.exists(p):
    ok = open(p, 'rb').read() == data
print('downloaded file identical:', ok, flush=True)
del dl; del seed
print('done', flush=True)
