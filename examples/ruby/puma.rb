# frozen_string_literal: true
#
# puma under pmux: one puma in single mode per pmux worker.
#
#   pmux run -w 4 -b 127.0.0.1:8000 --signals puma -- \
#     puma -C examples/ruby/puma.rb examples/ruby/config.ru
#
# Readiness: nothing to do. pmux's --ready auto (the default with a bind)
# sees a worker ready once puma waits on the socket, after the app loaded.
#
# Socket: puma adopts systemd-style LISTEN_FDS itself when LISTEN_PID is its
# pid, but puma 5 only *uses* an activated socket whose address equals one of
# its binds; the rest it closes ("Closing unused activated socket") and binds
# its default tcp://0.0.0.0:9292 instead. bind_to_activated_sockets 'only'
# (CLI: --bind-to-activated-sockets=only) serves exactly what pmux bound.

workers 0 # single mode: pmux is the pre-fork master
threads Integer(ENV.fetch('PUMA_MIN_THREADS', 0)), Integer(ENV.fetch('PUMA_MAX_THREADS', 5))
bind_to_activated_sockets 'only'
# Run alone (no LISTEN_FDS) this bind is used; under pmux 'only' drops it.
bind "tcp://127.0.0.1:#{ENV.fetch('PORT', '8000')}"

# TERM is puma's graceful stop (finish in-flight requests); by default puma
# then re-raises SIGTERM and dies of it (exit 143), which a supervisor counts
# as a crash. Exit 0 instead, as pmux expects of a graceful stop.
raise_exception_on_sigterm false

# A connection puma accepted just as a graceful stop began must still be
# answered: without this, puma 5 closes what it accepted but has not read
# yet, and the client sees the connection close with no response.
drain_on_shutdown
