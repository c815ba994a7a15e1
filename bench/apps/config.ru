# frozen_string_literal: true
#
# The benchmarks' trivial Rack app: one short line naming the process that
# answered. The same file runs under unicorn alone and under unicorn behind
# pmux, so both serve exactly the same code.
#
# APP_BOOT_DELAY=<seconds> sleeps while the app loads: a slow boot.

if (delay = ENV['APP_BOOT_DELAY']) && !delay.empty?
  sleep Float(delay)
end

run(lambda do |_env|
  body = "pid=#{Process.pid}\n"
  [200, { 'content-type' => 'text/plain', 'content-length' => body.bytesize.to_s }, [body]]
end)
