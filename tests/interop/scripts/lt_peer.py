#!/usr/bin/python3
"""A uTP-only libtorrent-rasterbar session on 127.0.0.1, driven by the utp-interop tests.

usage:
  lt_peer.py seed WORKDIR DATAFILE PIECE_LEN TIMEOUT_S
      Makes WORKDIR/test.torrent from DATAFILE and seeds it (seed mode, data read from
      DATAFILE's directory). Prints 'torrent PATH', 'info_hash HEX', 'port N', 'ready', then
      serves until its standard input closes (or TIMEOUT_S pass), prints 'uploaded BYTES' and
      'done', and exits 0.
  lt_peer.py download WORKDIR DATAFILE PIECE_LEN PEER_PORT TIMEOUT_S
      Makes WORKDIR/test.torrent from DATAFILE, prints 'torrent PATH', 'info_hash HEX' and
      'port N', adds the torrent without data (saved under WORKDIR/dl), connects to
      127.0.0.1:PEER_PORT and waits until libtorrent reports the torrent complete (every piece
      passed its SHA-1 check). Then prints 'complete SECONDS', 'verified yes' (or 'no': the saved
      file compared with DATAFILE), 'done', and exits 0 (1 if not verified). After TIMEOUT_S
      without completing it prints 'timeout progress P' and exits 2.
  lt_peer.py close WORKDIR DATAFILE PIECE_LEN PEER_PORT TIMEOUT_S
      Like download (it prints 'torrent', 'info_hash' and 'port' and connects to PEER_PORT),
      but for the tests where our side closes the connection: for every peer_disconnected_alert
      it prints 'disconnected endpoint=IP:PORT reason=N error=CATEGORY:VALUE op=NAME
      socket_type=N', for every peer_ban or peer_blocked alert 'banned ...'. It reconnects
      to a peer one second after a disconnect (min_reconnect_time 1). When its standard input
      closes (or TIMEOUT_S pass) it prints 'peers N' (the size of the torrent's peer list) and
      'done', and exits 0.
  lt_peer.py rendezvous ROLE WORKDIR DATAFILE PIECE_LEN TIMEOUT_S
      For our rendezvous: ROLE 'seed' or 'download'. Makes the torrent and prints 'torrent',
      'info_hash' and 'port' as the others do, adds it as a seed (seed mode) or without data,
      prints 'ready' once it is checked, then waits for a line 'go PEER_PORT' on its standard
      input and connects to 127.0.0.1:PEER_PORT over uTP (as a BEP 55 client does on a holepunch
      'connect'), printing 'connecting'. Connection alerts are printed as 'peer ALERT ENDPOINT
      socket_type=N' (incoming_connection, peer_connect with 'direction=in|out', peer_error,
      peer_disconnected with 'reason=N error=CATEGORY:VALUE op=NAME', peer_ban, peer_blocked).
      A seed then serves until its standard input closes (or TIMEOUT_S pass) and prints
      'uploaded BYTES'; a download waits until complete and prints 'complete SECONDS' and
      'verified yes|no'. Both end with 'peers N' (the torrent's peer list) and 'done'.

Every line on standard output is 'key value'; alerts about peers go to standard error.
Requires the Debian interpreter and package: /usr/bin/python3, python3-libtorrent (2.0.8).
"""
import os
import re
import select
import sys
import time

import libtorrent as lt


def out(key, value=''):
    print(('%s %s' % (key, value)).strip(), flush=True)


def session(extra=None):
    # uTP only, loopback only, nothing that reaches beyond this machine.
    settings = {
        'listen_interfaces': '127.0.0.1:0',
        'outgoing_interfaces': '127.0.0.1',
        'enable_outgoing_tcp': False, 'enable_incoming_tcp': False,
        'enable_outgoing_utp': True, 'enable_incoming_utp': True,
        'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
        'allow_multiple_connections_per_ip': True,
        # Plain BitTorrent handshakes: by default libtorrent opens outgoing connections with
        # the encrypted (MSE) handshake, which the tests' minimal peer does not speak.
        'out_enc_policy': int(lt.enc_policy.disabled), 'in_enc_policy': int(lt.enc_policy.disabled),
        'alert_mask': lt.alert.category_t.error_notification | lt.alert.category_t.peer_notification
                      | lt.alert.category_t.status_notification | lt.alert.category_t.connect_notification
                      | lt.alert.category_t.ip_block_notification,
        'user_agent': 'utp-interop',
    }
    settings.update(extra or {})
    return lt.session(settings)


def wait_listening(ses):
    end = time.time() + 10
    while time.time() < end:
        if ses.is_listening() and ses.listen_port():
            return ses.listen_port()
        time.sleep(0.05)
    out('error', 'libtorrent did not start listening')
    sys.exit(3)


def make_torrent(workdir, datafile, piece_len):
    fs = lt.file_storage()
    lt.add_files(fs, datafile)
    ct = lt.create_torrent(fs, piece_len)
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(datafile)))
    raw = lt.bencode(ct.generate())
    path = os.path.join(workdir, 'test.torrent')
    with open(path, 'wb') as f:
        f.write(raw)
    return path, lt.torrent_info(path)


def drain(ses):
    """Prints the pending alerts; returns them."""
    alerts = ses.pop_alerts()
    for a in alerts:
        sys.stderr.write('libtorrent: %s: %s\n' % (a.what(), a.message()))
    sys.stderr.flush()
    return alerts


def stdin_closed(wait_s):
    """Waits up to WAIT_S for standard input; whether it has closed."""
    r, _, _ = select.select([sys.stdin], [], [], wait_s)
    return bool(r) and not sys.stdin.buffer.read1(4096)


def seed(workdir, datafile, piece_len, timeout):
    path, ti = make_torrent(workdir, datafile, piece_len)
    ses = session()
    port = wait_listening(ses)
    h = ses.add_torrent({'ti': ti, 'save_path': os.path.dirname(os.path.abspath(datafile)),
                         'flags': lt.torrent_flags.seed_mode})
    out('torrent', path)
    out('info_hash', str(ti.info_hashes().v1))
    out('port', port)
    # add_torrent returns before the torrent is set up: a peer that
    # connects before libtorrent has checked it is dropped (seen on a loaded
    # machine as an early EOF at our downloader; is_seeding is true before
    # that in seed mode). Say 'ready' only once the check is done.
    end = time.time() + timeout
    checked = False
    while not checked and time.time() < end:
        time.sleep(0.02)
        checked = any(a.what() == 'torrent_checked' for a in drain(ses))
    out('ready')
    end = time.time() + timeout
    while time.time() < end and not stdin_closed(0.1):
        drain(ses)
    out('uploaded', h.status().total_payload_upload)
    drain(ses)
    out('done')


def download(workdir, datafile, piece_len, peer_port, timeout):
    path, ti = make_torrent(workdir, datafile, piece_len)
    out('torrent', path)
    out('info_hash', str(ti.info_hashes().v1))
    ses = session()
    out('port', wait_listening(ses))
    dl = os.path.join(workdir, 'dl')
    os.makedirs(dl, exist_ok=True)
    h = ses.add_torrent({'ti': ti, 'save_path': dl})
    t0 = time.time()
    h.connect_peer(('127.0.0.1', peer_port))
    while True:
        time.sleep(0.05)
        drain(ses)
        st = h.status()
        if st.is_seeding or st.is_finished:
            break
        if time.time() - t0 > timeout:
            out('timeout', 'progress %.4f' % st.progress)
            sys.exit(2)
    out('complete', '%.3f' % (time.time() - t0))
    # Make sure the pieces are on disk before comparing.
    try:
        h.flush_cache()
    except AttributeError:
        pass
    ses.remove_torrent(h)
    time.sleep(0.5)
    drain(ses)
    with open(datafile, 'rb') as a, open(os.path.join(dl, os.path.basename(datafile)), 'rb') as b:
        same = a.read() == b.read()
    out('verified', 'yes' if same else 'no')
    out('done')
    sys.exit(0 if same else 1)


def close(workdir, datafile, piece_len, peer_port, timeout):
    path, ti = make_torrent(workdir, datafile, piece_len)
    out('torrent', path)
    out('info_hash', str(ti.info_hashes().v1))
    # min_reconnect_time: retry a peer one second after it disconnected (default 60 s), to
    # see whether the reason changes that. peer_timeout 10 s (default 120 s): libtorrent
    # sends a keepalive after 5 s without sending, which our aborted connection answers with
    # another RESET should the first have been lost.
    ses = session({'min_reconnect_time': 1, 'peer_timeout': 10})
    out('port', wait_listening(ses))
    dl = os.path.join(workdir, 'dl')
    os.makedirs(dl, exist_ok=True)
    h = ses.add_torrent({'ti': ti, 'save_path': dl})
    h.connect_peer(('127.0.0.1', peer_port))
    end = time.time() + timeout
    while time.time() < end and not stdin_closed(0.05):
        for a in drain(ses):
            if isinstance(a, lt.peer_disconnected_alert):
                # The 2.0.8 bindings list 'reason' but cannot convert its type
                # (close_reason_t: "No to_python converter"); the message ends
                # with "(reason: N)". socket_type as a number: the bindings name
                # 3 (utp) by its deprecated alias 'udp'.
                reason = re.search(r'\(reason: (\d+)\)$', a.message())
                out('disconnected', 'endpoint=%s:%d reason=%s error=%s:%d op=%s socket_type=%d' % (
                    a.endpoint[0], a.endpoint[1], reason.group(1) if reason else '?',
                    a.error.category().name(), a.error.value(), lt.operation_name(a.op),
                    int(a.socket_type)))
            elif isinstance(a, (lt.peer_ban_alert, lt.peer_blocked_alert)):
                out('banned', '%s: %s' % (a.what(), a.message()))
    out('peers', h.status().list_peers)
    out('done')


def peer_alerts(ses):
    """Drains the alerts, printing those about peers."""
    kinds = (lt.peer_connect_alert, lt.peer_disconnected_alert, lt.peer_error_alert,
             lt.peer_ban_alert, lt.peer_blocked_alert)
    for a in drain(ses):
        if isinstance(a, lt.incoming_connection_alert):
            out('peer', 'incoming_connection %s:%d socket_type=%d' % (
                a.endpoint[0], a.endpoint[1], int(a.socket_type)))
        if not isinstance(a, kinds):
            continue
        line = '%s %s:%d socket_type=%d' % (a.what(), a.endpoint[0], a.endpoint[1],
                                              int(getattr(a, 'socket_type', -1)))
        if isinstance(a, lt.peer_disconnected_alert):
            reason = re.search(r'\(reason: (\d+)\)$', a.message())
            line += ' reason=%s error=%s:%d op=%s' % (
                reason.group(1) if reason else '?', a.error.category().name(), a.error.value(),
                lt.operation_name(a.op))
        elif isinstance(a, lt.peer_connect_alert):
            line += ' direction=%s' % ('in' if 'incoming' in a.message() else 'out')
        out('peer', line)


def rendezvous(role, workdir, datafile, piece_len, timeout):
    path, ti = make_torrent(workdir, datafile, piece_len)
    out('torrent', path)
    out('info_hash', str(ti.info_hashes().v1))
    ses = session()
    out('port', wait_listening(ses))
    if role == 'seed':
        params = {'ti': ti, 'save_path': os.path.dirname(os.path.abspath(datafile)),
                  'flags': lt.torrent_flags.seed_mode}
    else:
        dl = os.path.join(workdir, 'dl')
        os.makedirs(dl, exist_ok=True)
        params = {'ti': ti, 'save_path': dl}
    h = ses.add_torrent(params)
    end = time.time() + timeout
    checked = False
    while not checked and time.time() < end:
        time.sleep(0.02)
        checked = any(a.what() == 'torrent_checked' for a in drain(ses))
    out('ready')
    go = sys.stdin.buffer.readline().split()
    if len(go) != 2 or go[0] != b'go':
        out('error', 'expected go PEER_PORT')
        sys.exit(64)
    peer_port = int(go[1])
    h.connect_peer(('127.0.0.1', peer_port))
    out('connecting')
    t0 = time.time()
    end = t0 + timeout
    if role == 'seed':
        while time.time() < end and not stdin_closed(0.05):
            peer_alerts(ses)
        out('uploaded', h.status().total_payload_upload)
    else:
        while True:
            time.sleep(0.05)
            peer_alerts(ses)
            st = h.status()
            if st.is_seeding or st.is_finished:
                break
            if time.time() > end:
                out('timeout', 'progress %.4f' % st.progress)
                sys.exit(2)
        out('complete', '%.3f' % (time.time() - t0))
        try:
            h.flush_cache()
        except AttributeError:
            pass
        time.sleep(0.5)
        with open(datafile, 'rb') as a, open(os.path.join(dl, os.path.basename(datafile)), 'rb') as b:
            out('verified', 'yes' if a.read() == b.read() else 'no')
        # Until our side has seen libtorrent close the connection.
        while time.time() < end and not stdin_closed(0.05):
            peer_alerts(ses)
    peer_alerts(ses)
    out('peers', h.status().list_peers)
    out('done')


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ''
    if mode == 'seed' and len(sys.argv) == 6:
        seed(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    elif mode == 'download' and len(sys.argv) == 7:
        download(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
    elif mode == 'close' and len(sys.argv) == 7:
        close(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
    elif mode == 'rendezvous' and len(sys.argv) == 7 and sys.argv[2] in ('seed', 'download'):
        rendezvous(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6]))
    else:
        sys.stderr.write(__doc__)
        sys.exit(64)


if __name__ == '__main__':
    main()
