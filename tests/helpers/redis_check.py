# Raw-socket checks against a Redis-compatible server (tests/kv-app.test.ts),
# run the same against apps/kv and a real redis-server: malformed RESP is
# answered with an error and the connection closed; inline commands; a
# pipelined burst. Prints one JSON object of what came back.
#   python3 redis_check.py <host> <port>
import json, socket, sys

host, port = sys.argv[1], int(sys.argv[2])

def exchange(raw):
    """What the server sends back to `raw`, and whether it closed (read until EOF or 3 s of silence)."""
    s = socket.create_connection((host, port), timeout=30)
    s.sendall(raw)
    s.settimeout(3)
    data = b""
    closed = False
    try:
        while True:
            d = s.recv(65536)
            if not d:
                closed = True
                break
            data += d
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = True
    s.close()
    return {"reply": data.decode("latin1"), "closed": closed}

cases = {
    "wrong multibulk count": b"*1\r\n$4\r\nPING\r\n*x\r\n",
    "huge bulk length": b"*1\r\n$99999999999\r\n",
    "negative bulk length": b"*2\r\n$3\r\nGET\r\n$-1\r\n",
    "no dollar": b"*2\r\nx\r\n",
    "binary junk after star": b"*\xff\xfe\x01\r\n",
    "unbalanced quotes": b"SET \"a b\r\n",
    "inline": b"PING\r\nSET ik \"x y\"\r\nGET ik\r\nEXISTS ik nope\r\n\r\nDEL ik\r\nQUIT\r\n",
    "pipelined": b"".join(b"*3\r\n$3\r\nSET\r\n$2\r\np%d\r\n$1\r\n%d\r\n" % (i % 10, i % 10) for i in range(50)) + b"*2\r\n$3\r\nGET\r\n$2\r\np7\r\n*1\r\n$4\r\nQUIT\r\n",
}
print(json.dumps({k: exchange(v) for k, v in cases.items()}))
