"""A WSGI app for gunicorn under pmux (see gunicorn.conf.py).

    GET /            hello from pid=<pid> slot=<PMUX_WORKER> gen=<PMUX_GENERATION> lang=wsgi
    GET /?sleep=1.5  the same, 1.5 s later (an in-flight request for stop tests)

pid is gunicorn's worker, a child of the pmux worker (the gunicorn arbiter).
APP_BOOT_DELAY=<seconds> sleeps while the app is imported.
"""

import os
import sys
import time
import urllib.parse

_delay = os.environ.get("APP_BOOT_DELAY")
if _delay:
    print(f"wsgi-example pid={os.getpid()}: booting for {_delay}s (APP_BOOT_DELAY)",
          file=sys.stderr, flush=True)
    time.sleep(float(_delay))


def app(environ, start_response):
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if "sleep" in query:
        time.sleep(min(max(float(query["sleep"][0]), 0.0), 300.0))
    body = (f"hello from pid={os.getpid()} slot={os.environ.get('PMUX_WORKER', '')} "
            f"gen={os.environ.get('PMUX_GENERATION', '')} lang=wsgi\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]
