# gunicorn under pmux: one gunicorn arbiter with ONE gunicorn worker per pmux
# worker; pmux does the pre-forking, scaling and upgrades.
#
#   pmux run -w 4 -b 127.0.0.1:8000 -- \
#     gunicorn -c examples/python/gunicorn.conf.py
#
# Socket: gunicorn >= 20 adopts LISTEN_FDS by itself (systemd socket
# activation) when LISTEN_PID is its pid, and then ignores `bind` (and $PORT).
# No flag needed; do not pass --bind.
#
# Signals match pmux's defaults: TERM is gunicorn's graceful stop, INT its quick one.
import os

wsgi_app = "wsgi:app"
pythonpath = os.path.dirname(os.path.abspath(__file__))
workers = 1
# Readiness: nothing to do, no preload_app. pmux's --ready auto (the default
# with a bind) sees the worker ready once gunicorn's sync worker, in the pmux
# worker's process group, waits on the socket: after it loaded the app.
# Run alone (no LISTEN_FDS) gunicorn binds this; under pmux it is ignored.
bind = [f"127.0.0.1:{os.environ.get('PORT', '8000')}"]
graceful_timeout = 30  # keep at or below pmux's --graceful-timeout
accesslog = None
