#!/usr/bin/env python3
"""Opens N idle TCP connections to HOST:PORT (or, with HOST unix:PATH and
PORT 0, to the Unix socket PATH) and holds them (used by
test_control_exposure.sh).

Connections are opened in batches of 10, 20 ms apart, so the server sees
them in that order with distinct times per batch. Once all are open it
writes "open N" on stdout and waits for a line on stdin; then it reports
which connections the server had closed ("closed I J ..."), so the test can
check the server closed the oldest idle ones, and exits. Nothing is ever
sent on the connections: they are idle from the server's point of view.
Bounded: each connect has a 5 s timeout, the wait for stdin 120 s.
"""
import select
import socket
import sys
import time


def main():
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    socks = []
    for i in range(n):
        if host.startswith("unix:"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(host[5:])
        else:
            s = socket.create_connection((host, port), timeout=5)
        s.setblocking(False)
        socks.append(s)
        if i % 10 == 9:
            time.sleep(0.02)
    print("open %d" % len(socks), flush=True)
    ready, _, _ = select.select([sys.stdin], [], [], 120)
    if ready:
        sys.stdin.readline()
    closed = []
    for i, s in enumerate(socks):
        try:
            if s.recv(1) == b"":
                closed.append(i)
        except BlockingIOError:
            pass  # still open, nothing sent: idle
        except OSError:
            closed.append(i)  # reset
    print("closed " + " ".join(str(i) for i in closed), flush=True)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
