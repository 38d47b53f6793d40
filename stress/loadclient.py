#!/usr/bin/env python3
"""Clients for the stress suite (stress/slowloris.sh, handshake_flood.sh, sigterm.sh,
soak.sh). Each mode prints its figures on one line at the end; "ready" lines go to
stdout as they happen (the scripts poll for them, never sleep).

  loadclient.py slowloris HOST TLS_PORT PLAIN_PORT N INTERVAL_S LIMIT_S
      N/2 TLS and N/2 plaintext connections that send "GET / HTTP/1.1..." one byte every
      INTERVAL_S seconds, plus N/10 TCP connections to TLS_PORT that send the first 5
      bytes of a ClientHello and nothing more. Prints "ready" when all are open, then
      waits (LIMIT_S at most) until the server has closed them, and prints
      "slowloris open N closed C never_closed K max_s S" (S: the longest time from the
      connection's first byte to the server's close).
  loadclient.py keepalive HOST PORT CONNS SECONDS PATH [--plain] [--until-closed] [--pace=MS]
      CONNS keep-alive connections (one thread each) sending GET PATH back to back (with
      --pace, one request every MS milliseconds per connection) for SECONDS (or, with --until-closed, until the server closes them). Prints
      "ready" after the first response of every connection, then at the end
      "keepalive requests R errors E truncated T clean_closes C p50_ms P p99_ms Q".
      A response cut after its first byte is "truncated"; a connection closed before
      any byte of a response is a "clean close" (with --until-closed, not an error).
"""
import socket
import ssl
import sys
import threading
import time


def tls_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def connect(host, port, tls, timeout=30):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        s = tls_ctx().wrap_socket(s, server_hostname="localhost")
    return s


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100.0))]


# ---- slowloris -------------------------------------------------------------------------

def slowloris(host, tls_port, plain_port, n, interval, limit):
    req = ("GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: slowloris\r\n\r\n" % host).encode()
    conns = []  # [sock, bytes_sent, first_byte_time, closed_time]
    for i in range(n):
        tls = i % 2 == 0
        s = connect(host, tls_port if tls else plain_port, tls)
        s.setblocking(False)
        conns.append([s, 0, None, None])
    # never finish the handshake: a TLS record header of a ClientHello, then silence
    half = []
    for _ in range(max(1, n // 10)):
        s = socket.create_connection((host, tls_port), timeout=30)
        s.sendall(b"\x16\x03\x01\x02\x00")
        s.setblocking(False)
        half.append([s, 5, time.monotonic(), None])
    allc = conns + half
    print("ready %d" % len(allc), flush=True)
    start = time.monotonic()
    next_send = start
    while time.monotonic() - start < limit:
        now = time.monotonic()
        open_ = [c for c in allc if c[3] is None]
        if not open_:
            break
        if now >= next_send:
            for c in conns:
                if c[3] is None and c[1] < len(req):
                    try:
                        c[0].send(req[c[1]:c[1] + 1])
                        c[1] += 1
                        if c[2] is None:
                            c[2] = now
                    except (ssl.SSLWantWriteError, BlockingIOError):
                        pass
                    except OSError:
                        c[3] = now
            next_send = now + interval
        for c in open_:
            try:
                d = c[0].recv(4096)
                if not d:
                    c[3] = time.monotonic()
                # any response byte before the request is complete would be a server bug;
                # the close that follows is what counts
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                pass
            except OSError:
                c[3] = time.monotonic()
        time.sleep(0.05)
    closed = [c for c in allc if c[3] is not None]
    never = len(allc) - len(closed)
    mx = max([c[3] - (c[2] or start) for c in closed] or [0])
    print("slowloris open %d closed %d never_closed %d max_s %.1f" % (len(allc), len(closed), never, mx), flush=True)
    return 0 if never == 0 else 1


# ---- keep-alive ------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.lat = []
        self.requests = self.errors = self.truncated = self.clean = 0
        self.ready = 0
        self.err_text = []


def read_response(f):
    """Returns (status, got_any_byte). Raises on a cut response (truncated) or
    EOFError when the connection closed before the response's first byte."""
    status = f.readline()
    if not status:
        raise EOFError("closed before the response")
    try:
        length = None
        code = int(status.split()[1])
        while True:
            line = f.readline()
            if not line:
                raise ConnectionError("truncated in the header")
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length:
            body = f.read(length)
            if len(body) != length:
                raise ConnectionError("truncated body: %d of %d" % (len(body), length))
        return code
    except ConnectionError:
        raise
    except (OSError, ValueError, IndexError) as e:
        raise ConnectionError("truncated: %s" % e)


def ka_worker(st, host, port, tls, pace, path, until_closed, deadline):
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode()
    try:
        s = connect(host, port, tls)
    except OSError as e:
        with st.lock:
            st.errors += 1
            st.err_text.append("connect: %s" % e)
        return
    f = s.makefile("rb")
    first = True
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        if pace and not first:
            time.sleep(pace)
            t0 = time.monotonic()
        try:
            s.sendall(req)
        except OSError:
            with st.lock:
                st.clean += 1  # nothing of a response was received
                if not until_closed:
                    st.errors += 1
                    st.err_text.append("send failed")
            return
        try:
            code = read_response(f)
        except EOFError:
            with st.lock:
                st.clean += 1
                if not until_closed:
                    st.errors += 1
                    st.err_text.append("closed before a response")
            return
        except (ConnectionError, OSError) as e:
            with st.lock:
                st.truncated += 1
                st.errors += 1
                st.err_text.append(str(e))
            return
        dt = (time.monotonic() - t0) * 1000.0
        with st.lock:
            st.requests += 1
            st.lat.append(dt)
            if code != 200:
                st.errors += 1
                st.err_text.append("status %d" % code)
            if first:
                st.ready += 1
        first = False
    s.close()


def keepalive(host, port, conns, seconds, path, tls, until_closed, pace):
    st = Stats()
    deadline = time.monotonic() + seconds
    th = [threading.Thread(target=ka_worker, args=(st, host, port, tls, pace, path, until_closed, deadline),
                           daemon=True) for _ in range(conns)]
    for t in th:
        t.start()
    said = False
    while any(t.is_alive() for t in th):
        if not said and st.ready + st.errors + st.clean >= conns:
            print("ready %d" % st.ready, flush=True)
            said = True
        time.sleep(0.05)
    if not said:
        print("ready %d" % st.ready, flush=True)
    for e in st.err_text[:5]:
        print("error: %s" % e, flush=True)
    print("keepalive requests %d errors %d truncated %d clean_closes %d p50_ms %.2f p99_ms %.2f" %
          (st.requests, st.errors, st.truncated, st.clean, pct(st.lat, 50), pct(st.lat, 99)), flush=True)
    return 0


def main():
    a = [x for x in sys.argv[1:] if not x.startswith("--")]
    mode = a[0]
    if mode == "slowloris":
        sys.exit(slowloris(a[1], int(a[2]), int(a[3]), int(a[4]), float(a[5]), float(a[6])))
    pace = 0.0
    for x in sys.argv:
        if x.startswith("--pace="):
            pace = float(x[7:]) / 1000.0
    if mode == "keepalive":
        sys.exit(keepalive(a[1], int(a[2]), int(a[3]), float(a[4]), a[5], "--plain" not in sys.argv,
                           "--until-closed" in sys.argv, pace))
    sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
