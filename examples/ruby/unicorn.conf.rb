# frozen_string_literal: true
#
# unicorn under pmux: one unicorn master with ONE unicorn worker per pmux
# worker; pmux does the pre-forking, scaling and upgrades.
#
#   pmux run -w 4 -b 127.0.0.1:8000 --ready notify --stop-signal QUIT -- \
#     unicorn -c examples/ruby/unicorn.conf.rb examples/ruby/config.ru
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

# Load the app in the unicorn master, so it is loaded (APP_BOOT_DELAY included)
# by the time before_fork runs, and READY=1 can come from the master: pmux
# only believes a datagram sent by the worker's own pid, and the master is
# that pid; unicorn's worker is its child.
preload_app true

before_fork do |_server, _worker|
  path = ENV['NOTIFY_SOCKET']
  if path && !path.empty?
    require 'socket'
    path = "\0#{path[1..]}" if path.start_with?('@') # abstract socket
    begin
      Socket.open(:UNIX, :DGRAM) do |s|
        s.send("READY=1\nSTATUS=serving", 0, Socket.sockaddr_un(path))
      end
    rescue SystemCallError => e
      warn "unicorn.conf.rb: notify #{ENV['NOTIFY_SOCKET']}: #{e.message}"
    end
  end
end
