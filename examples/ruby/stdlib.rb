# frozen_string_literal: true
#
# A pmux worker in plain Ruby (stdlib only): adopts the listening sockets pmux
# hands it (fds 3.., LISTEN_FDS / LISTEN_PID, as systemd does) with
# Socket.for_fd, serves a one-line HTTP answer, and stops the way pmux expects.
#
#   pmux run -w 4 -b 127.0.0.1:8000 --ready notify -- ruby examples/ruby/stdlib.rb
#
#   GET /            hello from pid=<pid> slot=<PMUX_WORKER> gen=<PMUX_GENERATION> lang=ruby
#   GET /?sleep=1.5  the same, 1.5 s later (an in-flight request for stop tests)
#
# TERM (or QUIT): stop accepting, finish in-flight requests, exit 0.
# INT: exit 0 at once. READY=1 goes to NOTIFY_SOCKET when set.
# APP_BOOT_DELAY=<seconds> sleeps before serving and READY=1.
# Run alone (no LISTEN_FDS) it listens on 127.0.0.1:$PORT, else 127.0.0.1:8000.

require 'socket'

SD_LISTEN_FDS_START = 3

def log(msg)
  $stderr.puts "ruby-example pid=#{Process.pid}: #{msg}"
end

# sd_listen_fds(unset_environment=1): the sockets passed to this very process.
def inherited_listeners
  n = ENV.delete('LISTEN_FDS')
  pid = ENV.delete('LISTEN_PID')
  ENV.delete('LISTEN_FDNAMES')
  return [] if n.nil?
  if pid && pid.to_i != Process.pid
    # A wrapper forked us instead of exec'ing: the sockets were meant for it.
    log "LISTEN_PID=#{pid} is not my pid; ignoring LISTEN_FDS=#{n} (exec the server, do not fork it)"
    return []
  end
  raise ArgumentError, "LISTEN_FDS=#{n.inspect}: not a count of sockets" unless n.match?(/\A\d+\z/)

  (SD_LISTEN_FDS_START...(SD_LISTEN_FDS_START + n.to_i)).map do |fd|
    s = Socket.for_fd(fd)
    s.close_on_exec = true # ours now; children we might spawn must not hold it
    s
  end
end

# sd_notify(3) by hand: one datagram; '@' names an abstract socket (leading NUL).
def sd_notify(state)
  path = ENV['NOTIFY_SOCKET']
  return if path.nil? || path.empty?

  path = "\0#{path[1..]}" if path.start_with?('@')
  Socket.open(:UNIX, :DGRAM) { |s| s.send(state, 0, Socket.sockaddr_un(path)) }
rescue SystemCallError => e
  log "notify #{ENV['NOTIFY_SOCKET']}: #{e.message}"
end

def handle(conn)
  conn.close_on_exec = true
  request_line = conn.gets("\r\n", 8192)
  return if request_line.nil?

  while (line = conn.gets("\r\n", 8192)) && line != "\r\n"; end # skip headers
  _method, target, = request_line.split(' ', 3)
  if (m = target.to_s.match(/[?&]sleep=([0-9.]+)/))
    sleep(Float(m[1]).clamp(0, 300))
  end
  body = "hello from pid=#{Process.pid} slot=#{ENV['PMUX_WORKER']} " \
         "gen=#{ENV['PMUX_GENERATION']} lang=ruby\n"
  conn.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n" \
             "Content-Length: #{body.bytesize}\r\nConnection: close\r\n\r\n#{body}")
rescue SystemCallError, IOError, ArgumentError => e
  log "request: #{e.class}: #{e.message}"
ensure
  conn.close unless conn.closed?
end

# Traps run in a restricted context (no Mutex), so they only write to a pipe
# that the accept loop selects on.
wake_r, wake_w = IO.pipe
stop = nil
trap('TERM') { stop ||= :graceful; wake_w.write_nonblock('.', exception: false) }
trap('QUIT') { stop ||= :graceful; wake_w.write_nonblock('.', exception: false) }
trap('INT')  { exit!(0) } # quick stop: in-flight requests are dropped

listeners = inherited_listeners
if listeners.empty?
  listeners = [TCPServer.new('127.0.0.1', Integer(ENV.fetch('PORT', '8000')))]
end

if (d = ENV['APP_BOOT_DELAY']) && !d.empty?
  log "booting for #{d}s (APP_BOOT_DELAY)"
  sleep Float(d)
end

listeners.each { |l| log "serving on #{l.local_address.inspect_sockaddr}" }
sd_notify("READY=1\nSTATUS=serving")

workers = []
until stop
  ready, = IO.select(listeners + [wake_r])
  ready.each do |l|
    next if l == wake_r

    # accept_nonblock: a sibling worker may win the race for this connection,
    # and the shared socket may be blocking (as pmux hands it) or not (after
    # some other worker flipped O_NONBLOCK on the shared file description).
    conn, = l.accept_nonblock(exception: false)
    next if conn == :wait_readable || conn.nil?

    workers << Thread.new(conn) { |c| handle(c) }
  end
  workers.select!(&:alive?)
end

sd_notify('STOPPING=1')
log "graceful stop, finishing #{workers.count(&:alive?)} in-flight request(s)"
listeners.each(&:close) # our references only: the master and siblings keep theirs
workers.each(&:join)
log 'stopped'
exit 0
