"""The integration tests' Python worker: a single-threaded HTTP/1.0 server
on fd 3 that waits for connections the way WAIT says (accept, epoll, poll or
select), so each wait style --ready auto and --timeout read can be tried on
a real process. It never talks to pmux (no READY=1).

WORKER_BOOT_DELAY  seconds to sleep before serving, as an app loading
WORKER_FORK        1: fork, and serve from the child while the parent
                   waits for it (a gunicorn or unicorn master, in short)

GET /              "PID\n"
GET /sleep?ms=N    sleeps N ms first, and prints "sleeping N ms in PID"
"""
import os
import select
import signal
import socket
import sys
import time

wait = os.environ.get("WAIT", "accept")
stopping = False
phase = "boot"  # boot, wait (in epoll/poll/select), accept, serve


def on_term(signum, frame):
    # A graceful stop drops no connection: in a wait nothing is taken yet,
    # so exit; anywhere else a connection may just have been accepted, so
    # close this process's listening fd (the other workers keep the
    # socket) and let the loop serve what it holds and then fail to take
    # more.
    global stopping
    stopping = True
    if phase in ("boot", "wait"):
        sys.exit(0)
    listener.close()


signal.signal(signal.SIGTERM, on_term)

if os.environ.get("WORKER_FORK") == "1":
    child = os.fork()
    if child:
        signal.signal(signal.SIGTERM, lambda s, f: os.kill(child, signal.SIGTERM))
        while True:
            try:
                os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        sys.exit(0)

time.sleep(float(os.environ.get("WORKER_BOOT_DELAY", "0")))
listener = socket.socket(fileno=3)
listener.setblocking(wait == "accept")
pid = os.getpid()


def serve(conn):
    try:
        conn.setblocking(True)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        path = data.split(b" ", 2)[1].decode()
        if path.startswith("/sleep"):
            ms = int(path.split("ms=", 1)[1])
            print("sleeping %d ms in %d" % (ms, pid), flush=True)
            time.sleep(ms / 1000)
        body = ("%d\n" % pid).encode()
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    except OSError:
        pass
    finally:
        conn.close()


def accept_ready():
    global phase
    phase = "accept"
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return  # another worker took it
    except OSError:
        if stopping:
            sys.exit(0)  # the listener was closed by the stop
        raise
    phase = "serve"
    serve(conn)


def wait_for(waiter):
    global phase
    phase = "wait"
    waiter()


if wait == "accept":
    pass
elif wait == "epoll":
    ep = select.epoll()
    ep.register(listener.fileno(), select.EPOLLIN)
    waiter = ep.poll
elif wait == "poll":
    p = select.poll()
    p.register(listener.fileno(), select.POLLIN)
    waiter = p.poll
elif wait == "select":
    waiter = lambda: select.select([listener], [], [])
else:
    sys.exit("worker.py: WAIT must be accept, epoll, poll or select, not %r" % wait)
while not stopping:
    if wait != "accept":
        wait_for(waiter)
    accept_ready()
