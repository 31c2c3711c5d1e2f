#!/usr/bin/env python3
# Fault generators for the live diagnosis tests, run inside test namespaces
# (`ip netns exec NS python3 faults.py CMD ARGS...`). Fixed code; every value
# comes from argv. Long-running servers print "ready" once listening.
import os, select, socket, struct, sys, time

def ready():
    print('ready', flush=True)

def tcp_listen(addr, port, backlog, accept):
    # A listener with a given backlog that accepts (and reads/holds) or never accepts.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port))); s.listen(int(backlog))
    ready()
    held = []
    while True:
        if accept == 'accept':
            c, _ = s.accept(); held.append(c)
        else:
            time.sleep(3600)

def tcp_connect_many(addr, port, n, hold, gap="0.002"):
    # Open n connections without waiting for each; keep them open `hold` seconds.
    socks = []
    for _ in range(int(n)):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setblocking(False)
        try: c.connect((addr, int(port)))
        except BlockingIOError: pass
        except OSError: pass
        socks.append(c)
        if float(gap): time.sleep(float(gap))
    print('opened', len(socks), flush=True)
    time.sleep(float(hold))

def udp_slow_reader(addr, port, rcvbuf):
    # A UDP socket with a small receive buffer that never reads.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(rcvbuf))
    s.bind((addr, int(port)))
    ready()
    time.sleep(3600)

def udp_send(dst, port, n, size, sport, interval):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if int(sport): s.bind(('', int(sport)))
    data = b'x' * int(size)
    sent = 0
    for _ in range(int(n)):
        try:
            s.sendto(data, (dst, int(port))); sent += 1
        except OSError:
            pass
        if float(interval): time.sleep(float(interval))
    print(sent, flush=True)

def csum16(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

def ip_header(src, dst, proto, payload_len, ident):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + payload_len, ident & 0xffff, 0x4000, 64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack('!H', csum16(h)) + h[12:]

def udp_bad_csum(src, dst, sport, dport, n):
    # UDP datagrams whose checksum is deliberately wrong (raw IP socket).
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    payload = b'droptrace-bad-checksum'
    for i in range(int(n)):
        udp = struct.pack('!HHHH', int(sport), int(dport), 8 + len(payload), 0x1234) + payload
        r.sendto(ip_header(src, dst, 17, len(udp), i) + udp, (dst, 0))
        time.sleep(0.002)
    print(n, flush=True)

def tcp_pkt(src, dst, sport, dport, seq, ack, flags, tsval, tsecr, payload):
    opts = struct.pack('!BBBBII', 1, 1, 8, 10, tsval, tsecr)  # NOP NOP TS
    off = (20 + len(opts)) // 4
    hdr = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, off << 4, flags, 65535, 0, 0) + opts
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(hdr) + len(payload))
    c = csum16(pseudo + hdr + payload)
    hdr = hdr[:16] + struct.pack('!H', c) + hdr[18:]
    return ip_header(src, dst, 6, len(hdr) + len(payload), 0) + hdr + payload

def paws_storm(src, dst, dport, n):
    # An established connection src->dst:dport; then segments on it, in window,
    # whose TCP timestamp is older than the last one the receiver saw: PAWS.
    c = socket.create_connection((dst, int(dport)), timeout=5)
    c.sendall(b'hello')
    sport = c.getsockname()[1]
    # Learn the connection's state from the peer's ACK (outgoing packets reach
    # only ETH_P_ALL sockets): its ack = our next seq, its TSecr = our last
    # TSval (the receiver's ts_recent), its TSval = what we echo.
    p = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    c.sendall(b'world')
    seq = ack = tsval = tsecr = None
    deadline = time.time() + 3
    while time.time() < deadline and seq is None:
        r, _, _ = select.select([p], [], [], 0.2)
        if not r:
            c.sendall(b'again'); continue
        pkt, addr = p.recvfrom(65535)
        if len(pkt) < 40 or pkt[9] != 6: continue
        ihl = (pkt[0] & 15) * 4
        s_, d_ = socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20])
        sp, dp, sq, ak = struct.unpack('!HHII', pkt[ihl:ihl + 12])
        if s_ == dst and d_ == src and sp == int(dport) and dp == sport and pkt[ihl + 13] & 0x10:
            doff = (pkt[ihl + 12] >> 4) * 4
            plen = len(pkt) - ihl - doff
            o = pkt[ihl + 20: ihl + doff]
            i = 0
            while i < len(o):
                if o[i] == 1: i += 1; continue
                if o[i] == 0: break
                if o[i] == 8: tsval, tsecr = struct.unpack('!II', o[i + 2:i + 10])
                i += o[i + 1] if o[i + 1] > 1 else 1
            if tsval is not None:
                seq, ack, mine = ak, sq + plen, tsecr
    p.close()
    if seq is None:
        print('no-seq', flush=True); sys.exit(1)
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for i in range(int(n)):
        # PSH|ACK, in window, timestamp far in the past.
        r.sendto(tcp_pkt(src, dst, sport, int(dport), seq, ack, 0x18, (mine - 100000) & 0xffffffff, tsval, b'stale'), (dst, 0))
        time.sleep(0.002)
    print(n, flush=True)
    time.sleep(0.5)

def tcp_sink(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port))); s.listen(16)
    ready()
    while True:
        c, _ = s.accept()
        if os.fork() == 0:
            while c.recv(65536): pass
            os._exit(0)
        c.close()

def tcp_push(dst, port, seconds, rcvbuf, rst='0'):
    # Connect and send for `seconds` (rcvbuf 0 = default). rst=1: close with a
    # reset (SO_LINGER 0), so nothing is retransmitted after we are done.
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if int(rst): c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    c.connect((dst, int(port)))
    buf = b'x' * 65536
    end = time.time() + float(seconds)
    sent = 0
    c.settimeout(1)
    while time.time() < end:
        try: sent += c.send(buf)
        except socket.timeout: pass
        except OSError: break
    print(sent, flush=True)

def tcp_serve_push(addr, port, seconds):
    # Accept one connection and send to it for `seconds` (data flows server -> client).
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port))); s.listen(4)
    ready()
    c, _ = s.accept()
    buf = b'y' * 65536
    end = time.time() + float(seconds)
    c.settimeout(1)
    while time.time() < end:
        try: c.send(buf)
        except socket.timeout: pass
        except OSError: break
    c.close()

def tcp_pull(dst, port):
    c = socket.create_connection((dst, int(port)), timeout=30)
    n = 0
    while True:
        d = c.recv(65536)
        if not d: break
        n += len(d)
    print(n, flush=True)

def tcp_hold_reader(addr, port, rcvbuf):
    # Accept connections and never read (their receive queues fill).
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if int(rcvbuf): s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(rcvbuf))
    s.bind((addr, int(port))); s.listen(64)
    ready()
    held = []
    while True:
        c, _ = s.accept(); held.append(c)

if __name__ == '__main__':
    globals()[sys.argv[1].replace('-', '_')](*sys.argv[2:])
