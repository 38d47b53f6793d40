#!/usr/bin/env python3
"""Raw HTTP/1.1 clients for the end-to-end tests of `handoff serve` (tests/interop/*.sh).

  e2e_http.py raw --port P [--tls] [--head] [--timeout S] [--split N --pause S] [--ready F] [--out F]
      Sends the bytes read from stdin on one connection (TLS without ALPN, or plain TCP), reads
      until the connection ends or --timeout seconds pass, and prints one line:
          statuses=200,400 end=close_notify extra=0 secs=0.01
      statuses  status codes of the complete responses, in order (Content-Length framing;
                with --head the responses carry no body); "-" for none
      end       close_notify (orderly TLS close), eof (TCP FIN; for TLS: without close_notify),
                reset, timeout (still open), or tls_error/connect_error/send_error:<reason>
      extra     bytes after the last complete response (0 when the framing is exact)
      --split N --pause S  send the first N bytes, wait S seconds, then the rest
      --sent F             (with --split) create F once the first part is sent
      --ready F            create F once the first complete response has arrived
      --out F              write every byte received to F

  e2e_http.py keepalive --port P --conns N --path PATH --stop F --ready F [--max S]
      N keep-alive TLS connections issuing GET PATH back to back until F (--stop) exists
      (at most --max seconds). Creates --ready once every connection has been answered once.
      Prints: requests=N errors=N reconnects=N, then one line per distinct error.
  e2e_http.py stopclients --port P [--tls] --conns N --dir D [--held PATH] [--max S]
      N keep-alive connections in one process, for the graceful-stop test. Each sends GET /,
      reads its response, then sends its last request and creates D/ready.I; it then reads
      until the server ends the connection. Plain mode: the last request is GET /. With
      --held PATH: it first sends GET PATH (a large static file) with a small receive buffer
      and, once that response's head has arrived, GET / behind it, so the server cannot read
      the last request (its output is pending); it reads nothing more until D/go exists.
      Prints one line per client that did not get everything, then
          answered=N conn_close=N clean_end=N
      answered   clients whose every response came, complete, with status 200
      conn_close clients whose last response says Connection: close
      clean_end  clients whose connection then ended in order (close_notify; FIN on TCP)
"""
import argparse
import os
import socket
import ssl
import sys
import threading
import time


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def connect(port, tls, timeout):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls:
        s = tls_context().wrap_socket(s, server_hostname="localhost", suppress_ragged_eofs=False)
    return s


def parse_responses(data, head_only):
    """Status codes of the complete responses at the start of data, and the bytes left over."""
    statuses = []
    off = 0
    while True:
        end = data.find(b"\r\n\r\n", off)
        if end < 0:
            break
        head = data[off:end].decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            break
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        body_end = end + 4 + (0 if head_only else length)
        if body_end > len(data):
            break
        statuses.append(int(parts[1]))
        off = body_end
    return statuses, len(data) - off


def read_until_end(s, deadline, on_data):
    """Reads until the peer closes or the deadline passes; returns how it ended."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return "timeout"
        except ssl.SSLZeroReturnError:
            return "close_notify"
        except ssl.SSLEOFError:
            return "eof"
        except ConnectionResetError:
            return "reset"
        except ssl.SSLError as e:
            return "tls_error:" + (e.reason or str(e)).replace(" ", "_")
        except OSError as e:
            return "error:" + (e.strerror or str(e)).replace(" ", "_")
        if not chunk:
            return "close_notify" if isinstance(s, ssl.SSLSocket) else "eof"
        on_data(chunk)


def cmd_raw(a):
    req = sys.stdin.buffer.read()
    start = time.monotonic()
    deadline = start + a.timeout
    got = bytearray()
    end = None
    try:
        s = connect(a.port, a.tls, a.timeout)
    except ssl.SSLError as e:
        end = "tls_error:" + (e.reason or str(e)).replace(" ", "_")
    except OSError as e:
        end = "connect_error:" + (e.strerror or str(e)).replace(" ", "_")
    if end is None:
        try:
            if a.split is not None and 0 < a.split < len(req):
                s.sendall(req[: a.split])
                if a.sent:
                    open(a.sent, "w").close()
                time.sleep(a.pause)
                s.sendall(req[a.split :])
            elif req:
                s.sendall(req)
        except (OSError, ssl.SSLError) as e:
            end = "send_error:" + type(e).__name__
        ready = [False]

        def on_data(chunk):
            got.extend(chunk)
            if a.ready and not ready[0] and parse_responses(bytes(got), a.head)[0]:
                ready[0] = True
                open(a.ready, "w").close()

        how = read_until_end(s, deadline, on_data)
        # A send error (peer closed early) is reported only when nothing useful came back.
        if end is None or got:
            end = how
        s.close()
    statuses, extra = parse_responses(bytes(got), a.head)
    if a.out:
        with open(a.out, "wb") as f:
            f.write(got)
    print("statuses=%s end=%s extra=%d secs=%.2f"
          % (",".join(map(str, statuses)) or "-", end, extra, time.monotonic() - start))


class KeepAlive:
    def __init__(self, a):
        self.a = a
        self.lock = threading.Lock()
        self.requests = 0
        self.errors = {}
        self.reconnects = 0
        self.answered = set()
        self.req = ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % a.path).encode()

    def error(self, what):
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1

    def one(self, s):
        """One request/response on s; returns an error string or None."""
        s.sendall(self.req)
        buf = bytearray()
        while True:
            statuses, extra = parse_responses(bytes(buf), False)
            if statuses:
                if statuses[0] != 200:
                    return "status %d" % statuses[0]
                if extra:
                    return "%d unexpected bytes after the response" % extra
                return None
            chunk = s.recv(65536)
            if not chunk:
                return "connection closed by the server"
            buf.extend(chunk)

    def run(self, idx, stop_at):
        s = None
        while time.monotonic() < stop_at and not os.path.exists(self.a.stop):
            try:
                if s is None:
                    s = connect(self.a.port, True, 10)
                err = self.one(s)
            except (OSError, ssl.SSLError) as e:
                err = "%s: %s" % (type(e).__name__, e)
            if err is None:
                with self.lock:
                    self.requests += 1
                    self.answered.add(idx)
                    if len(self.answered) == self.a.conns and self.a.ready:
                        open(self.a.ready, "a").close()
                continue
            self.error(err)
            if s is not None:
                s.close()
            s = None
            with self.lock:
                self.reconnects += 1
            time.sleep(0.05)
        if s is not None:
            s.close()


def cmd_keepalive(a):
    ka = KeepAlive(a)
    stop_at = time.monotonic() + a.max
    threads = [threading.Thread(target=ka.run, args=(i, stop_at)) for i in range(a.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("requests=%d errors=%d reconnects=%d" % (ka.requests, sum(ka.errors.values()), ka.reconnects))
    for what, n in sorted(ka.errors.items()):
        print("  error x%d: %s" % (n, what))


class Responses:
    """Responses parsed as the bytes come (Content-Length framing); bodies are counted, not
    kept. heads: (status, lower-case head) per response seen; done: how many are complete."""

    def __init__(self):
        self.buf = bytearray()
        self.body_left = 0
        self.heads = []
        self.done = 0

    def feed(self, chunk):
        self.buf.extend(chunk)
        while True:
            if self.body_left:
                n = min(self.body_left, len(self.buf))
                del self.buf[:n]
                self.body_left -= n
                if self.body_left:
                    return
                self.done += 1
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1")
            del self.buf[: end + 4]
            parts = head.split("\r\n")[0].split(" ")
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            self.heads.append((status, head.lower()))
            self.body_left = length
            if not length:
                self.done += 1


def stop_client(a, idx, results):
    deadline = time.monotonic() + a.max
    r = Responses()
    want = 3 if a.held else 2
    end = None

    def recv_until(cond):
        while not cond():
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("closed early")
            r.feed(chunk)

    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if a.held:
            # A small window: the server cannot hand the whole file to the kernel, so its
            # output stays pending and it does not read the request queued behind it.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.settimeout(a.max)
        s.connect(("127.0.0.1", a.port))
        if a.tls:
            s = tls_context().wrap_socket(s, server_hostname="localhost", suppress_ragged_eofs=False)
        get = lambda path: ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode()
        s.sendall(get("/"))
        recv_until(lambda: r.done >= 1)
        if a.held:
            s.sendall(get(a.held))
            recv_until(lambda: len(r.heads) >= 2)
        s.sendall(get("/"))
        open(os.path.join(a.dir, "ready.%d" % idx), "w").close()
        if a.held:
            go = os.path.join(a.dir, "go")
            while not os.path.exists(go):
                if time.monotonic() > deadline:
                    raise OSError("no go file")
                time.sleep(0.01)
        end = read_until_end(s, deadline, r.feed)
        s.close()
    except (OSError, ssl.SSLError) as e:
        end = "error:%s" % str(e).replace(" ", "_")
    results[idx] = ([h for h in r.heads[: r.done]], end, want)


def cmd_stopclients(a):
    results = {}
    threads = [threading.Thread(target=stop_client, args=(a, i, results)) for i in range(a.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answered = conn_close = clean = 0
    for i in range(a.conns):
        resps, end, want = results.get(i, ([], "none", 0))
        ok = len(resps) == want and all(st == 200 for st, _ in resps)
        closing = bool(resps) and "\r\nconnection: close" in resps[-1][1]
        clean_end = end in ("close_notify", "eof") if not a.tls else end == "close_notify"
        answered += ok
        conn_close += ok and closing
        clean += clean_end
        if not (ok and clean_end and (closing or not a.held)):
            print("client %d: statuses=%s last_conn_close=%s end=%s"
                  % (i, ",".join(str(st) for st, _ in resps) or "-", closing, end))
    print("answered=%d conn_close=%d clean_end=%d" % (answered, conn_close, clean))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("raw")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--tls", action="store_true")
    r.add_argument("--head", action="store_true")
    r.add_argument("--timeout", type=float, default=5.0)
    r.add_argument("--split", type=int)
    r.add_argument("--pause", type=float, default=0.2)
    r.add_argument("--ready")
    r.add_argument("--sent")
    r.add_argument("--out")
    k = sub.add_parser("keepalive")
    k.add_argument("--port", type=int, required=True)
    k.add_argument("--conns", type=int, default=4)
    k.add_argument("--path", default="/")
    k.add_argument("--stop", required=True)
    k.add_argument("--ready")
    k.add_argument("--max", type=float, default=60.0)
    c = sub.add_parser("stopclients")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--tls", action="store_true")
    c.add_argument("--conns", type=int, default=50)
    c.add_argument("--dir", required=True)
    c.add_argument("--held")
    c.add_argument("--max", type=float, default=60.0)
    a = p.parse_args()
    {"raw": cmd_raw, "keepalive": cmd_keepalive, "stopclients": cmd_stopclients}[a.cmd](a)


if __name__ == "__main__":
    main()
