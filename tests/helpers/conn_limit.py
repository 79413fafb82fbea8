#!/usr/bin/env python3
"""A server's connection limit, from the client's side.

usage: conn_limit.py HOST PORT LIMIT REQUEST EXPECT END

REQUEST is sent (with \\r\\n escapes) and a reply starting with EXPECT is a
served request once END has arrived (the whole reply: nothing is left
unread for the next request on that connection). Opens LIMIT connections and has each served, keeping them
open (each retried for a while: earlier clients' connections may still be
closing); then one more, which must not be served (reset, or closed without a
reply); then checks the LIMIT connections are still served, closes one, and
retries a new connection until it is served (the slot came back). Prints one
JSON object.
"""
import json
import socket
import sys
import time

host, port, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
request = sys.argv[4].encode().decode("unicode_escape").encode("latin1")
expect = sys.argv[5].encode().decode("unicode_escape").encode("latin1")
end = sys.argv[6].encode().decode("unicode_escape").encode("latin1")


def ask(s, timeout=20.0):
    """Sends the request; 'served', 'reset', 'closed' or 'timeout'."""
    s.settimeout(timeout)
    try:
        s.sendall(request)
        got = b""
        while end not in got:
            b = s.recv(4096)
            if not b:
                return "closed" if not got else "other:" + got[:40].decode("latin1")
            got += b
        return "served" if got.startswith(expect) else "other:" + got[:40].decode("latin1")
    except (ConnectionResetError, BrokenPipeError):
        return "reset"
    except socket.timeout:
        return "timeout"


def connect():
    return socket.create_connection((host, port), timeout=20)


def served_connection():
    """A connection that was served: retried for a while, as connections of
    earlier clients may still be closing on the server and hold their slot."""
    deadline = time.time() + 20
    while True:
        s = connect()
        r = ask(s)
        if r == "served" or time.time() > deadline:
            return s, r
        s.close()
        time.sleep(0.2)


out = {}
held = []
out["within"] = []
for _ in range(limit):
    s, r = served_connection()
    held.append(s)
    out["within"].append(r)
extra = connect()
out["beyond"] = ask(extra, 10.0)
extra.close()
out["within_again"] = [ask(s) for s in held]
held.pop(0).close()
deadline = time.time() + 30
resumed = "no"
tries = 0
while time.time() < deadline:
    tries += 1
    s = connect()
    r = ask(s, 10.0)
    s.close()
    if r == "served":
        resumed = "served"
        break
    time.sleep(0.2)
out["after_close"] = resumed
out["tries"] = tries
for s in held:
    s.close()
print(json.dumps(out))
