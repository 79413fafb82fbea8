#!/usr/bin/env python3
# Polls an HTTP server until it answers 200 and prints the wall-clock time
# (time.time()) of that answer; exit 1 at the deadline. Each try is a fresh
# connect with a short time-out, so a SYN lost while the guest boots costs
# 20 ms, not the 1 s of a kernel SYN retransmission.
#   first-ok.py <host> <port> <path> <deadline-seconds>
import socket
import sys
import time

host, port, path, deadline = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
end = time.time() + deadline
request = ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode()
while time.time() < end:
    try:
        with socket.create_connection((host, port), timeout=0.02) as s:
            s.settimeout(2)
            s.sendall(request)
            head = s.recv(16)
            if head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200"):
                print("%.6f" % time.time())
                sys.exit(0)
    except OSError:
        time.sleep(0.002)
sys.exit(1)
