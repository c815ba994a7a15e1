# gunicorn behind pmux: each pmux worker is one gunicorn arbiter with ONE
# sync worker serving app.py, so pmux does the pre-forking, reloads and
# upgrades. gunicorn >= 20 adopts pmux's socket through LISTEN_FDS.
#
# preload_app loads the app in the arbiter before it tells pmux READY=1 (it
# does so once its sockets are set up when NOTIFY_SOCKET is set), so READY=1
# means "app loaded": a slow boot is waited for before an old worker goes.
import os

wsgi_app = "app:app"
pythonpath = os.path.dirname(os.path.abspath(__file__))
workers = 1
preload_app = True
graceful_timeout = 30
