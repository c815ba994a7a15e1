"""The benchmarks' trivial WSGI app: one short line naming the process that
answered. The same file runs under gunicorn alone and under gunicorn behind
pmux, so both serve exactly the same code.

APP_BOOT_DELAY=<seconds> sleeps while the module is imported: a slow boot.
"""

import os
import time

_delay = os.environ.get("APP_BOOT_DELAY")
if _delay:
    time.sleep(float(_delay))


def app(environ, start_response):
    body = b"pid=%d\n" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
