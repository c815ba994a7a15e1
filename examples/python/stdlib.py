#!/usr/bin/env python3
"""A pmux worker in plain Python (stdlib only).

Adopts the listening sockets pmux hands it (fds 3.., LISTEN_FDS / LISTEN_PID,
as systemd does) with socket.socket(fileno=3), serves them with
http.server.ThreadingHTTPServer, and stops the way pmux expects:

    pmux run -w 4 -b 127.0.0.1:8000 --ready notify -- python3 examples/python/stdlib.py

    GET /            hello from pid=<pid> slot=<PMUX_WORKER> gen=<PMUX_GENERATION> lang=python
    GET /?sleep=1.5  the same, 1.5 s later (an in-flight request for stop tests)

TERM (or QUIT): stop accepting, finish in-flight requests, exit 0.
INT: exit 0 at once. READY=1 goes to NOTIFY_SOCKET when set.
APP_BOOT_DELAY=<seconds> sleeps before serving and READY=1.
Run alone (no LISTEN_FDS) it listens on 127.0.0.1:$PORT, else 127.0.0.1:8000.
"""

import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SD_LISTEN_FDS_START = 3


def log(msg):
    print(f"python-example pid={os.getpid()}: {msg}", file=sys.stderr, flush=True)


def inherited_sockets():
    """sd_listen_fds(unset_environment=1): the sockets passed to this very process."""
    n = os.environ.pop("LISTEN_FDS", None)
    pid = os.environ.pop("LISTEN_PID", None)
    os.environ.pop("LISTEN_FDNAMES", None)
    if n is None:
        return []
    if pid and pid != str(os.getpid()):
        # A wrapper forked us instead of exec'ing: the sockets were meant for it.
        log(f"LISTEN_PID={pid} is not my pid; ignoring LISTEN_FDS={n} "
            "(run the server with exec, not as a child of a wrapper)")
        return []
    if not n.isdigit():
        raise SystemExit(f"LISTEN_FDS={n!r}: not a count of sockets")
    socks = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + int(n)):
        s = socket.socket(fileno=fd)  # family and type are read from the fd
        # Non-blocking, so that accept() after a select() that a sibling worker
        # won returns EAGAIN instead of parking this process in accept() where a
        # graceful stop cannot reach it. O_NONBLOCK lives on the open file
        # description shared with the master and every sibling; gunicorn,
        # unicorn, puma, Go and Node all set it too. socketserver copes with both.
        s.setblocking(False)
        s.set_inheritable(False)
        socks.append(s)
    return socks


def sd_notify(state):
    """sd_notify(3) by hand: one datagram; '@' names an abstract socket."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    addr = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.sendto(state.encode(), addr)
    except OSError as e:
        log(f"notify {path}: {e}")


class Hello(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so a graceful stop never waits on
    # an idle keep-alive connection.
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if "sleep" in query:
            try:
                time.sleep(min(max(float(query["sleep"][0]), 0.0), 300.0))
            except ValueError:
                self.send_error(400, "bad sleep: want seconds")
                return
        body = (f"hello from pid={os.getpid()} slot={os.environ.get('PMUX_WORKER', '')} "
                f"gen={os.environ.get('PMUX_GENERATION', '')} lang=python\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # no access log
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = False   # server_close() joins in-flight requests
    block_on_close = True


def server_for(sock):
    """A ThreadingHTTPServer on an adopted socket (no bind, no listen: pmux did both)."""
    srv = Server(("", 0), Hello, bind_and_activate=False)
    srv.socket.close()  # the throwaway socket TCPServer.__init__ made
    srv.socket = sock
    return srv


def main():
    stop = threading.Event()
    how = []

    def graceful(signum, _frame):
        how.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, graceful)
    signal.signal(signal.SIGQUIT, graceful)
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))  # quick stop

    socks = inherited_sockets()
    if not socks:
        s = socket.create_server(("127.0.0.1", int(os.environ.get("PORT", "8000"))))
        s.setblocking(False)
        socks = [s]

    delay = os.environ.get("APP_BOOT_DELAY")
    if delay:
        log(f"booting for {delay}s (APP_BOOT_DELAY)")
        time.sleep(float(delay))

    servers = [server_for(s) for s in socks]
    threads = [threading.Thread(target=srv.serve_forever, args=(0.2,), daemon=True) for srv in servers]
    for srv, t in zip(servers, threads):
        t.start()
        log(f"serving on {srv.socket.getsockname()}")
    sd_notify("READY=1\nSTATUS=serving")

    while not stop.wait(3600):
        pass
    sd_notify("STOPPING=1")
    log(f"{how[0]}: graceful stop, finishing in-flight requests")
    for srv in servers:
        srv.shutdown()       # stop the accept loop
    for srv in servers:
        srv.server_close()   # close our fd (the master keeps its own) and join request threads
    log("stopped")


if __name__ == "__main__":
    main()
