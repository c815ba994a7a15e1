"""An ASGI app for uvicorn under pmux.

    pmux run -w 4 -b 127.0.0.1:8000 -- \
      python3 -m uvicorn --fd 3 --app-dir examples/python asgi:app

uvicorn does not read LISTEN_FDS: `--fd 3` tells it where the socket is.
(Debian's python3-uvicorn ships no `uvicorn` script: use `python3 -m uvicorn`.)

    GET /            hello from pid=<pid> slot=<PMUX_WORKER> gen=<PMUX_GENERATION> lang=asgi
    GET /?sleep=1.5  the same, 1.5 s later (an in-flight request for stop tests)

Readiness: nothing to do. uvicorn does not speak sd_notify, and needs not:
pmux's --ready auto (the default with a bind) sees the worker ready once
uvicorn's event loop waits on the socket (epoll), after the lifespan startup
event, where APP_BOOT_DELAY=<seconds> sleeps. A request that arrives first
waits in the backlog, for an old worker to take it.

Signals: TERM and a first INT are uvicorn's graceful stop; a second INT forces it.
"""

import asyncio
import os
import sys
import urllib.parse


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
        elif event["type"] == "lifespan.shutdown":
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
