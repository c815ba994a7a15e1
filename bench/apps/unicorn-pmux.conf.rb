# frozen_string_literal: true
#
# unicorn behind pmux: each pmux worker is one unicorn master with ONE
# unicorn worker serving config.ru; pmux does the pre-forking, reloads and
# upgrades. unicorn >= 5 adopts pmux's socket through LISTEN_FDS. Run with
# --stop-signal QUIT (unicorn's graceful stop).
#
# preload_app loads the app (APP_BOOT_DELAY included) in the unicorn master,
# which is pmux's worker, so READY=1 comes from the pid pmux expects, after
# the app is loaded.

worker_processes 1
timeout 30
preload_app true

before_fork do |_server, _worker|
  path = ENV['NOTIFY_SOCKET']
  if path && !path.empty?
    require 'socket'
    path = "\0#{path[1..]}" if path.start_with?('@') # abstract socket
    Socket.open(:UNIX, :DGRAM) do |s|
      s.send('READY=1', 0, Socket.sockaddr_un(path))
    end
  end
end
