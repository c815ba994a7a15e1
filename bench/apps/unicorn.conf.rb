# frozen_string_literal: true
#
# unicorn alone, the peer pmux is measured against: 4 workers on the port in
# BENCH_PORT, the pidfile in BENCH_PIDFILE. No preload_app (unicorn's
# default): a HUP reloads the app, as a deploy needs.

worker_processes Integer(ENV.fetch('BENCH_WORKERS', '4'))
listen "127.0.0.1:#{ENV.fetch('BENCH_PORT')}", backlog: 1024
pid ENV.fetch('BENCH_PIDFILE')
timeout 30
