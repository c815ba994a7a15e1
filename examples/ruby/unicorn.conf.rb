# frozen_string_literal: true
#
# unicorn under pmux: one unicorn master with ONE unicorn worker per pmux
# worker; pmux does the pre-forking, scaling and upgrades.
#
#   pmux run -w 4 -b 127.0.0.1:8000 --stop-signal QUIT -- \
#     unicorn -c examples/ruby/unicorn.conf.rb examples/ruby/config.ru
#
# Readiness: nothing to do, no preload_app, no hook. pmux's --ready auto
# (the default with a bind) sees the worker ready once unicorn's own worker,
# in the pmux worker's process group, waits on the socket: after it has
# loaded the app.
#
# Socket: unicorn >= 5 adopts LISTEN_FDS by itself (emulating sd_listen_fds)
# when LISTEN_PID is its pid, and with inherited sockets and no `listen` here
# it binds nothing of its own. Do not add `listen` lines for pmux's addresses.
#
# Signals: for unicorn TERM and INT are the *quick* stop; QUIT is graceful.
# pmux sends --stop-signal for a graceful stop (TERM by default), so pass
# --stop-signal QUIT. pmux signals the whole process group, so unicorn's own
# worker gets QUIT too, which it also treats as graceful.

worker_processes 1
timeout Integer(ENV.fetch('UNICORN_TIMEOUT', 60))

# Run alone (no LISTEN_FDS), listen where the other examples do.
listen "127.0.0.1:#{ENV.fetch('PORT', '8000')}" unless ENV['LISTEN_FDS']
