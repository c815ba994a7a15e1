# frozen_string_literal: true
#
# puma under pmux: one puma in single mode per pmux worker.
#
#   pmux run -w 4 -b 127.0.0.1:8000 --ready notify --signals puma -- \
#     puma -C examples/ruby/puma.rb examples/ruby/config.ru
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

# READY=1 once puma serves. With the ruby-sd-notify package (gem sd_notify)
# installed, puma does this itself whenever NOTIFY_SOCKET is set; without it,
# this small plugin does (and puma logs "Systemd integration failed", harmless).
begin
  require 'sd_notify'
rescue LoadError
  require 'socket'
  Puma::Plugins.register('pmux_notify', Class.new(Puma::Plugin) do
    def start(launcher)
      launcher.events.on_booted { notify("READY=1\nSTATUS=serving") }
      launcher.events.on_stopped { notify('STOPPING=1') }
    end

    def notify(state)
      path = ENV['NOTIFY_SOCKET']
      return if path.nil? || path.empty?

      path = "\0#{path[1..]}" if path.start_with?('@') # abstract socket
      Socket.open(:UNIX, :DGRAM) { |s| s.send(state, 0, Socket.sockaddr_un(path)) }
    rescue SystemCallError => e
      warn "pmux_notify: #{ENV['NOTIFY_SOCKET']}: #{e.message}"
    end
  end)
  plugin :pmux_notify
end
