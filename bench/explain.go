//go:build linux

package main

// Why pmux misses a bar, when it does: the report includes a target's text
// only when that target is missed in the run it reports. The causes were
// found while writing the benchmark; the figures quoted in them are from
// that investigation, the tables' are from the run.

const whyRSS = "Only the *anonymous* part is the master's own memory (heap, stacks, runtime); " +
	"the rest is the pmux binary's own pages, file-backed, which the kernel maps in chunks around every page the Go runtime " +
	"touches (fault-around, large page-cache folios), so that the resident share depends on the size of the binary and on " +
	"how the kernel holds it in its page cache. The binary grew from 8.7 MB at 03c7dc4, whose master measured 6.3 MB here " +
	"(1.4 MB anonymous), to 13 MB with the control socket and the Prometheus metrics (71169b0): net/http, crypto/tls, " +
	"protobuf and client_golang are linked and initialised even without `--metrics`; before trim_linux.go unmapped the " +
	"start-up pages, that binary's master measured from 4.7 to 12 MB here from one run to the next. File-backed pages are " +
	"shared with every process mapping the same binary and are the first the kernel drops, but VmRSS counts them. A " +
	"smaller binary keeps the master under the bar whatever the page cache does: the metrics served by a hand-written " +
	"text exposition on a raw listener, without net/http and client_golang, or left out of default builds by a build " +
	"tag (urfave/cli's `urfave_cli_no_docs` tag saves another 0.3 MB of binary)."

const whyWakeups = "The master arms no timer and polls nothing when idle; what wakes it is the Go runtime's sysmon " +
	"thread. strace of an idle master shows nothing else: sysmon's sleep is capped at a minute even when every P is " +
	"idle (forcegcperiod/2), and each time it wakes it reads the cgroup CPU quota (the GOMAXPROCS update of Go 1.25) " +
	"and sleeps 10 ms more before it parks again: two context switches a minute, 0.033/s, whatever pmux does. " +
	"Switching the collector to a memory limit (gc.go) removes the GC forced every two minutes, but not this; " +
	"GODEBUG=updatemaxprocs=0 removes the read, not the wakeup. No Go program meets 0.02/s on this runtime; " +
	"gunicorn's arbiter wakes every second, unicorn's master every 13 s or so."

const whyFailed = "No request was refused: the socket never closed. A request that fails here was accepted by a worker " +
	"in the instant it began its graceful stop, then closed unanswered: the Go example's drain (examples/go/main.go) " +
	"closes its listeners and waits for the connections it has counted without first waiting for Serve to return, " +
	"so a connection accepted in that instant is counted after the wait already saw none, and dies with the process. " +
	"The same race is in testdata/worker (the soak found it there: one request lost every few upgrades); " +
	"waiting for Serve to return before waiting for the connections fixes both. It is the app's bug, not the master's, " +
	"but it is pmux's own example."

const whySlowTput = "pmux itself never stops an old worker before its replacement is ready, so a dip comes from the machine: " +
	"the new workers boot beside the old ones on 2 CPUs (behind pmux, gunicorn and unicorn load a Python or Ruby " +
	"interpreter and the app in each of 4 new processes at once), other jobs share the machine, and the load client " +
	"itself sometimes runs late (noted under the tables when it did)."

const whySlowLatency = whySlowTput

const whyAutoWakeups = "--ready auto reads /proc only while a worker boots, and arms no timer otherwise; what an idle " +
	"master wakes for is the Go runtime's sysmon, under every --ready mode alike (see the idle wakeups above)."

const whyMasterKill = "pmux's own part, the kernel's parent-death signal to every worker, is immediate; the rest is how " +
	"long the workers take to exit on their stop signal, which is the app's (the Go example finishes its in-flight " +
	"requests first), and how loaded the machine was."

const whyThroughput = "The master used no CPU and did not wake while wrk ran (the throughput table), so it is not on the " +
	"request path and cannot cost throughput; on this shared 2-CPU machine, where wrk and the servers compete for the " +
	"same cores with other jobs, the ratio's spread from one quadruple to the next is wider than the bar."

const whySpawn = "Every worker goes through pmux's exec shim: pmux fork-execs itself, the shim sets LISTEN_PID and a " +
	"default signal state and execs the command, so a worker costs a second exec and the start of a Go runtime in a " +
	"13 MB binary on top of the bare fork+exec, and three processes that must each get a CPU where a bare fork+exec " +
	"needs one. That makes the figure move with the machine's load far more than the bare one: 1.8 to 2.6 ms per worker " +
	"in the quieter runs made while writing this benchmark, up to 5 ms with other jobs holding the load average near 7 " +
	"on these 2 CPUs (see the load averages at the top, and the bare fork+exec column, which doubles as well)."

const notMeasured = `## Not measured, and why

- **Peers at 16, 64, 256 workers.** gunicorn and unicorn fork an already loaded interpreter and never exec, so their spawn is not a fork+exec to compare with; 256 Python or Ruby workers would also need several GB here. The spawn table is pmux's alone.
- **The peers' throughput "alone".** A WSGI or Rack app cannot serve without a server, and gunicorn's and unicorn's masters do not proxy either; the comparison that exists is the same app behind pmux (one gunicorn or unicorn per slot) against the peer master, which also changes the process structure, so it is not a measure of pmux's cost. The Go example alone on the same socket is.
- **A worker "accepting".** No outside view shows when a process starts blocking in accept(); the crash table reports the first answer from the new process (with bursts of requests, so that it soon wins an accept race) and, for pmux, its own log.
- **The upgrade dance of gunicorn and unicorn behind pmux.** It is pmux's dance whatever the app; the Go example shows it, and the app's boot time is what would differ.
- **Idle CPU below 10 ms.** /proc counts CPU time in 10 ms ticks: an idle master shows 0 until it has used a tick.
- **Faults, the soak and fuzzing** are not benchmarks: ` + "`make faults`, `make soak DURATION=10m` and `make fuzz`" + ` run them (see faults_test.go, soak_test.go and the Fuzz targets). The control-socket request parser is fuzzed by control's own FuzzParseRequest, which make fuzz runs too.
- **Noise.** The machine is shared with other jobs (load averages above); single runs can be off by tens of percent, which is why every cell shows its spread and the bars are judged on medians.

`
