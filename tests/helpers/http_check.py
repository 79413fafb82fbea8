# HTTP checks against a running apps/http (tests/http-app.test.ts), with
# Python's own http.client and raw sockets: keep-alive reuse, pipelined
# requests answered in order, every error status from a literal bad
# request, slow clients cut at the header time-out while others are served,
# and a large file byte-exact. Prints one JSON object.
#   python3 http_check.py <host> <port> <big-path> <big-sha256> <header-timeout-s> [checks]
import hashlib, http.client, json, socket, sys, threading, time

host, port = sys.argv[1], int(sys.argv[2])
big_path, big_sha = sys.argv[3], sys.argv[4]
header_timeout = float(sys.argv[5])
checks = sys.argv[6].split(",") if len(sys.argv) > 6 else ["keepalive", "pipeline", "errors", "slow", "big"]
out = {}

def connect(timeout=30):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s

class KeepOpen:
    """The socket's reader, shared by successive responses: one finishing must not close it."""
    def __init__(self, f): self.f = f
    def __getattr__(self, name): return getattr(self.f, name)
    def close(self): pass

def responses(sock, n, methods):
    """n responses read in order from one socket (one buffered reader for all of them)."""
    fp = KeepOpen(sock.makefile("rb"))
    got = []
    for i in range(n):
        r = http.client.HTTPResponse(sock, method=methods[i])
        r.fp = fp
        r.begin()
        got.append({"status": r.status, "body": r.read().decode("latin1"), "headers": {k.lower(): v for k, v in r.getheaders()}})
    return got

def status_of(raw, timeout=30):
    """The status an exchange of literal bytes gets, its Allow field, and whether the server closed after it."""
    s = connect(timeout)
    s.sendall(raw)
    r = http.client.HTTPResponse(s, method="GET")
    r.begin()
    body = r.read()
    s.settimeout(5)
    try:
        closed = s.recv(1) == b""
    except socket.timeout:
        closed = False
    except ConnectionResetError:
        closed = True
    s.close()
    return {"status": r.status, "allow": r.getheader("Allow"), "closed": closed, "body": body.decode("latin1")}

if "keepalive" in checks:
    c = http.client.HTTPConnection(host, port, timeout=30)
    seen = []
    for path in ["/", "/style.css", "/docs/"]:
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        seen.append((r.status, id(c.sock)))
    out["keepalive"] = {"statuses": [s for s, _ in seen], "one_socket": len({k for _, k in seen}) == 1}
    c.close()

if "pipeline" in checks:
    s = connect()
    reqs = [("GET", "/"), ("HEAD", "/style.css"), ("GET", "/nope"), ("GET", "/style.css"), ("GET", "/docs")]
    s.sendall(b"".join(b"%s %s HTTP/1.1\r\nHost: t\r\n\r\n" % (m.encode(), p.encode()) for m, p in reqs))
    got = responses(s, len(reqs), [m for m, _ in reqs])
    out["pipeline"] = [[g["status"], len(g["body"]), g["headers"].get("location")] for g in got]
    s.close()

if "errors" in checks:
    cases = {
        "400": b"GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n",
        "400-nohost": b"GET / HTTP/1.1\r\n\r\n",
        "400-dotdot": b"GET /../etc/passwd HTTP/1.1\r\nHost: t\r\n\r\n",
        "404": b"GET /missing.html HTTP/1.1\r\nHost: t\r\n\r\n",
        "405": b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
        "413": b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n",
        "414": b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
        "416": b"GET /style.css HTTP/1.1\r\nHost: t\r\nRange: bytes=100000-\r\n\r\n",
        "431": b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 100) for i in range(200)) + b"\r\n",
        "501": b"BREW / HTTP/1.1\r\nHost: t\r\n\r\n",
        "505": b"GET / HTTP/3.0\r\nHost: t\r\n\r\n",
    }
    out["errors"] = {k: status_of(v) for k, v in cases.items()}

if "slow" in checks:
    # three clients that never finish their head, one byte now and then
    slow = []
    started = []
    for i in range(3):
        s = connect(header_timeout + 30)
        started.append(time.time())
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
        slow.append(s)
    t0 = time.time()
    stop = threading.Event()
    def drip():
        while not stop.is_set():
            for s in slow:
                try: s.sendall(b"X")
                except OSError: pass
            time.sleep(0.3)
    th = threading.Thread(target=drip, daemon=True)
    th.start()
    served = 0
    while time.time() - t0 < header_timeout * 0.6:
        c = http.client.HTTPConnection(host, port, timeout=30)
        c.request("GET", "/style.css")
        r = c.getresponse()
        if r.status == 200 and len(r.read()) > 0: served += 1
        c.close()
    cut = []
    for s, began in zip(slow, started):
        data = b""
        try:
            while True:
                d = s.recv(4096)
                if not d: break
                data += d
        except OSError:
            pass
        cut.append({"status": data.split(b"\r\n", 1)[0].decode("latin1"), "after": round(time.time() - began, 2)})
        s.close()
    stop.set()
    out["slow"] = {"served_meanwhile": served, "cut": cut}

if "big" in checks:
    c = http.client.HTTPConnection(host, port, timeout=120)
    t = time.time()
    c.request("GET", big_path)
    r = c.getresponse()
    data = r.read()
    out["big"] = {"status": r.status, "bytes": len(data), "exact": hashlib.sha256(data).hexdigest() == big_sha, "seconds": round(time.time() - t, 2)}
    c.close()

print(json.dumps(out))
