# frozen_string_literal: true
#
# A Rack app for puma and unicorn under pmux (see puma.rb, unicorn.conf.rb).
#
#   GET /            hello from pid=<pid> slot=<PMUX_WORKER> gen=<PMUX_GENERATION> lang=rack
#   GET /?sleep=1.5  the same, 1.5 s later (an in-flight request for stop tests)
#
# pid is the process that ran the request: puma in single mode is the pmux
# worker itself; under unicorn it is unicorn's worker, a child of the pmux worker.
# APP_BOOT_DELAY=<seconds> sleeps while the app loads (before READY=1).

if (delay = ENV['APP_BOOT_DELAY']) && !delay.empty?
  warn "rack-example pid=#{Process.pid}: booting for #{delay}s (APP_BOOT_DELAY)"
  sleep Float(delay)
end

run(lambda do |env|
  if (s = Rack::Utils.parse_query(env['QUERY_STRING'])['sleep'])
    sleep Float(s).clamp(0, 300)
  end
  body = "hello from pid=#{Process.pid} slot=#{ENV['PMUX_WORKER']} gen=#{ENV['PMUX_GENERATION']} lang=rack\n"
  [200, { 'content-type' => 'text/plain; charset=utf-8', 'content-length' => body.bytesize.to_s }, [body]]
end)
