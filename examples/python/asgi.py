"""An ASGI app for uvicorn under pmux.

    pmux run -w 4 -b 127.0.0.1:8000 --ready notify -- \
      python3 -m uvicorn --fd 3 --app-dir examples/python asgi:app

uvicorn does not read LISTEN_FDS: `--fd 3` tells it where the socket is.
(Debian's python3-uvicorn ships no `uvicorn` script: use `python3 -m uvicorn`.)

    GET /            hello from pid=<pid> slot=<PMUX_WORKER> gen=<PMUX_GENERATION> lang=asgi
    GET /?sleep=1.5  the same, 1.5 s later (an in-flight request for stop tests)

uvicorn does not speak sd_notify, so this app does it from the lifespan
startup event (in the uvicorn process, which is the pmux worker), after
APP_BOOT_DELAY=<seconds>. The socket is already listening by then (pmux bound
it), so a request that arrives first just waits in the backlog.

Signals: TERM and a first INT are uvicorn's graceful stop; a second INT forces it.
"""

import asyncio
import os
import socket
import sys
import urllib.parse


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
        print(f"asgi-example: notify {path}: {e}", file=sys.stderr, flush=True)


async def lifespan(receive, send):
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            delay = os.environ.get("APP_BOOT_DELAY")
            if delay:
                print(f"asgi-example pid={os.getpid()}: booting for {delay}s (APP_BOOT_DELAY)",
                      file=sys.stderr, flush=True)
                await asyncio.sleep(float(delay))
            await send({"type": "lifespan.startup.complete"})
            sd_notify("READY=1\nSTATUS=serving")
        elif event["type"] == "lifespan.shutdown":
            sd_notify("STOPPING=1")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    query = urllib.parse.parse_qs(scope.get("query_string", b"").decode())
    if "sleep" in query:
        await asyncio.sleep(min(max(float(query["sleep"][0]), 0.0), 300.0))
    body = (f"hello from pid={os.getpid()} slot={os.environ.get('PMUX_WORKER', '')} "
            f"gen={os.environ.get('PMUX_GENERATION', '')} lang=asgi\n").encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
