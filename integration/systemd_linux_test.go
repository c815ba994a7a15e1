package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/pmuxtest"
	"github.com/pmux/pmux/status"
)

// The shipped examples/systemd units under a real systemd (see
// systemdbox_linux_test.go): one box for the group, a copy of the units
// per check, changed only in their paths and listening address, with the
// check's own settings (NotifyAccess=main, WatchdogSec=) in a drop-in as a
// user would add them. Every check reads systemd's own view and sends real
// requests on loopback while it runs.
func TestSystemd(t *testing.T) {
	requireSystemd(t)
	b := bootSystemd(t, map[string]string{"pmux": pmuxtest.Pmux(), "example-go": pmuxtest.GoBuild(t, "./examples/go")})

	// Type=notify: systemctl start returns once systemd has READY=1, and by
	// then every worker is ready, though each takes 0.5 s to boot.
	t.Run("notify start, reload, restart, stop", func(t *testing.T) {
		u := b.installApp(t, "pmux-start", "Environment=APP_BOOT_DELAY=0.5")
		start := time.Now()
		b.systemctl("start", u.socket, u.service)
		took := time.Since(start)
		st := b.show(u.service)
		if st["ActiveState"] != "active" || st["SubState"] != "running" {
			t.Fatalf("after systemctl start: %v, want active/running", st)
		}
		u.requireServing(t, st.mainPID(), 1)
		if want := "web: 4 workers, generation 1"; st["StatusText"] != want {
			t.Errorf("StatusText %q, want %q", st["StatusText"], want)
		}
		t.Logf("systemctl start returned after %v, every worker ready (each boots in 0.5 s): %v", took.Round(time.Millisecond), st)

		load := pmuxtest.StartPacedLoad("tcp", u.addr, 4, 5*time.Millisecond, 1<<30)
		start = time.Now()
		b.systemctl("reload", u.service)
		took = time.Since(start)
		st = b.show(u.service)
		u.requireServing(t, st.mainPID(), 2)
		if st["ActiveState"] != "active" || st["Result"] != "success" || st["NRestarts"] != "0" {
			t.Errorf("after systemctl reload: %v, want active, success, NRestarts 0", st)
		}
		t.Logf("systemctl reload returned after %v with generation 2 serving alone: %v", took.Round(time.Millisecond), st)
		u.restart(t, load)
		u.stop(t)
	})

	t.Run("pmux upgrade under NotifyAccess=all, then stop", func(t *testing.T) {
		u, load := b.startApp(t, "pmux-upgrade-all", "")
		u.upgrade(t)
		u.endLoad(t, load)
		u.stop(t)
	})

	t.Run("USR2 dance under NotifyAccess=main, then restart", func(t *testing.T) {
		u, load := b.startApp(t, "pmux-usr2-main", "NotifyAccess=main")
		u.usr2Dance(t)
		u.restart(t, load)
		u.stop(t)
	})

	t.Run("three upgrades under NotifyAccess=all, then stop", func(t *testing.T) {
		u, load := b.startApp(t, "pmux-three-all", "")
		u.usr2Dance(t)
		u.upgrade(t)
		u.upgrade(t)
		u.endLoad(t, load)
		u.stop(t)
	})

	// Each master feeds systemd's watchdog and hands the duty on: after
	// the third upgrade in a row the fourth master must still ping, for
	// longer than two periods.
	t.Run("WatchdogSec=2s through three upgrades under NotifyAccess=main, then restart", func(t *testing.T) {
		u, load := b.startApp(t, "pmux-watchdog-main", "NotifyAccess=main\nWatchdogSec=2s")
		for range 3 {
			u.upgrade(t)
		}
		main := b.show(u.service).mainPID()
		watchUntil := time.Now().Add(5 * time.Second)
		for time.Now().Before(watchUntil) {
			st := b.show(u.service)
			if st.mainPID() != main || st["ActiveState"] != "active" || st["NRestarts"] != "0" {
				t.Fatalf("%v into the watch after three upgrades: %v (main was %d)\nconsole:\n%s",
					time.Until(watchUntil).Round(time.Millisecond), st, main, u.console())
			}
			time.Sleep(100 * time.Millisecond)
		}
		if c := u.console(); strings.Contains(c, "Watchdog timeout") {
			t.Fatalf("systemd's watchdog fired:\n%s", c)
		}
		t.Logf("the fourth master %d fed the watchdog for 5 s (2.5 periods)", main)
		u.restart(t, load)
		u.stop(t)
	})
}

// appUnit is one copy of the example units in the box.
type appUnit struct {
	b               *systemdBox
	name            string
	service, socket string
	addr            string
	mark            int // the console's length when the unit was installed
}

// The example service's pidfile, inside the box (its RuntimeDirectory).
const boxPidfile = "/run/app/pmux.pid"

// installApp writes examples/systemd/pmux-app.{service,socket} as
// name.{service,socket}, with the box's binaries and a loopback port of
// its own, and the check's [Service] settings in a drop-in.
func (b *systemdBox) installApp(t *testing.T, name, dropin string) *appUnit {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &appUnit{b: b, name: name, service: name + ".service", socket: name + ".socket", addr: ln.Addr().String(), mark: b.console.mark()}
	ln.Close()
	replace := func(file, text, old, new string) string {
		if !strings.Contains(text, old) {
			t.Fatalf("%s has no %q to template", file, old)
		}
		return strings.ReplaceAll(text, old, new)
	}
	read := func(file string) string {
		data, err := os.ReadFile("examples/systemd/" + file)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	svc := read("pmux-app.service")
	svc = replace("pmux-app.service", svc, "/usr/local/bin/", boxDir+"/bin/")
	svc = replace("pmux-app.service", svc, "pmux-app.socket", u.socket)
	sock := read("pmux-app.socket")
	sock = replace("pmux-app.socket", sock, "ListenStream=0.0.0.0:8000", "ListenStream="+u.addr)
	sock = replace("pmux-app.socket", sock, "Service=pmux-app.service", "Service="+u.service)
	b.writeFile("units/"+u.service, svc)
	b.writeFile("units/"+u.socket, sock)
	// The box runs no journald: pmux's log goes to the console, which the
	// test shows when a check fails. A race build of pmux would sleep a
	// second at each exit (ExecStop's, ExecReload's, an old master's).
	if err := os.Mkdir(b.dir+"/units/"+u.service+".d", 0o755); err != nil {
		t.Fatal(err)
	}
	b.writeFile("units/"+u.service+".d/check.conf",
		"[Service]\nStandardOutput=tty\nStandardError=tty\nEnvironment=GORACE=atexit_sleep_ms=0\n"+dropin+"\n")
	b.systemctl("daemon-reload")
	t.Cleanup(func() {
		// A check that failed half-way leaves nothing running for the next.
		b.inside(60*time.Second, "systemctl", "stop", u.service, u.socket)
		if t.Failed() {
			t.Logf("console since %s was installed:\n%s", name, u.console())
		}
	})
	return u
}

// startApp installs the units, starts them and puts them under load.
func (b *systemdBox) startApp(t *testing.T, name, dropin string) (*appUnit, *pmuxtest.Load) {
	t.Helper()
	u := b.installApp(t, name, dropin)
	b.systemctl("start", u.socket, u.service)
	return u, pmuxtest.StartPacedLoad("tcp", u.addr, 4, 5*time.Millisecond, 1<<30)
}

func (u *appUnit) console() string { return u.b.console.since(u.mark) }

func (u *appUnit) pmux(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return u.b.asApp(3*time.Minute, append([]string{boxDir + "/bin/pmux"}, args...)...)
}

func (u *appUnit) status(t *testing.T, pid int) (status.Status, error) {
	t.Helper()
	out, err := u.pmux(t, "status", "--json", "--pid", strconv.Itoa(pid))
	if err != nil {
		return status.Status{}, fmt.Errorf("pmux status: %v: %s", err, out)
	}
	var st status.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return status.Status{}, fmt.Errorf("pmux status: %v: %s", err, out)
	}
	return st, nil
}

// requireServing checks that master pid serves with its 4 workers of
// generation gen alone, all ready, and that the unit's pidfile names it.
func (u *appUnit) requireServing(t *testing.T, pid, gen int) {
	t.Helper()
	st, err := u.status(t, pid)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, p := range st.Pools {
		for _, w := range p.Workers {
			states = append(states, fmt.Sprintf("%d:gen %d %s", w.Pid, w.Generation, w.State))
		}
		ok := p.Generation == gen && len(p.Workers) == p.Target && p.Target == 4
		for _, w := range p.Workers {
			ok = ok && w.Generation == gen && w.State == "ready"
		}
		if !ok {
			t.Fatalf("master %d: pool %s generation %d, target %d, workers %v; want 4 ready workers of generation %d alone", pid, p.Name, p.Generation, p.Target, states, gen)
		}
	}
	if got := u.pidfile(t); got != pid {
		t.Errorf("%s names %d, want the master %d", boxPidfile, got, pid)
	}
}

func (u *appUnit) pidfile(t *testing.T) int {
	t.Helper()
	out, err := u.b.inside(10*time.Second, "cat", boxPidfile)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(out))
	return n
}

// waitUnit polls systemd's view until ok holds.
func (u *appUnit) waitUnit(t *testing.T, what string, ok func(unitState) bool) unitState {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := u.b.show(u.service)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s: %v", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// handedOver checks systemd's view once master next has taken over from
// old: the main pid and then the new master's own status text (the old
// one's last was "handed over to new master N"), no restart, nothing
// failed.
func (u *appUnit) handedOver(t *testing.T, old, next int, took time.Duration) {
	t.Helper()
	const want = "web: 4 workers, generation 1"
	st := u.waitUnit(t, fmt.Sprintf("MainPID %d and its StatusText %q", next, want), func(st unitState) bool {
		return st.mainPID() == next && st["StatusText"] == want
	})
	if st["ActiveState"] != "active" || st["SubState"] != "running" || st["Result"] != "success" || st["NRestarts"] != "0" {
		t.Errorf("after the upgrade %d -> %d: %v, want active/running, success, NRestarts 0", old, next, st)
	}
	u.requireServing(t, next, 1)
	if s, err := u.status(t, next); err != nil || s.UpgradeParent != 0 {
		t.Errorf("new master %d after it told systemd its status: upgrade parent %d, %v; want none", next, s.UpgradeParent, err)
	}
	// Whether systemd took the new master for a process not its own (the
	// old master's MAINPID= processed before the old master exited): the
	// stop that follows must be graceful either way.
	alien := strings.Contains(u.console(), fmt.Sprintf("Supervising process %d which is not our child", next))
	t.Logf("upgrade %d -> %d in %v (systemd: not its child: %v): %v", old, next, took.Round(time.Millisecond), alien, st)
}

// upgrade runs `pmux upgrade` as the unit's comment says.
func (u *appUnit) upgrade(t *testing.T) {
	t.Helper()
	old := u.b.show(u.service).mainPID()
	start := time.Now()
	out, err := u.pmux(t, "upgrade", "--pidfile", boxPidfile)
	if err != nil {
		t.Fatalf("pmux upgrade: %v\n%s\nconsole:\n%s", err, out, u.console())
	}
	u.handedOver(t, old, u.pidfile(t), time.Since(start))
}

// usr2Dance upgrades by hand with signals, as with unicorn: USR2, wait
// for the new master to serve, WINCH, QUIT.
func (u *appUnit) usr2Dance(t *testing.T) {
	t.Helper()
	old := u.b.show(u.service).mainPID()
	start := time.Now()
	u.kill(t, "USR2", old)
	var next int
	deadline := time.Now().Add(30 * time.Second)
	for {
		if next = u.pidfile(t); next != old && next != 0 {
			if st, err := u.status(t, next); err == nil && st.Phase == "running" && readyWorkersOf(st) == 4 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new master serving 30s after USR2 to %d\nconsole:\n%s", old, u.console())
		}
		time.Sleep(20 * time.Millisecond)
	}
	u.kill(t, "WINCH", old)
	for {
		st, err := u.status(t, old)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Pools[0].Workers) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("old master %d still has workers after WINCH: %+v", old, st.Pools)
		}
		time.Sleep(20 * time.Millisecond)
	}
	u.kill(t, "QUIT", old)
	u.handedOver(t, old, next, time.Since(start))
}

func readyWorkersOf(st status.Status) int {
	n := 0
	for _, p := range st.Pools {
		for _, w := range p.Workers {
			if w.State == "ready" && w.Generation == p.Generation {
				n++
			}
		}
	}
	return n
}

func (u *appUnit) kill(t *testing.T, sig string, pid int) {
	t.Helper()
	if out, err := u.b.asApp(10*time.Second, "kill", "-"+sig, strconv.Itoa(pid)); err != nil {
		t.Fatalf("kill -%s %d: %v: %s", sig, pid, err, out)
	}
}

func (u *appUnit) endLoad(t *testing.T, load *pmuxtest.Load) {
	t.Helper()
	load.Stop()
	if load.Failed.Load() != 0 || load.OK.Load() == 0 {
		t.Errorf("requests under load: %v, want none failed", load)
	} else {
		t.Logf("requests under load: %v", load)
	}
}

// slowRequests are requests a worker holds for a while, sent just before a
// stop or a restart: each must be answered in full.
type slowRequests struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []string
	n    int
}

// sendSlow sends n requests that each take secs to answer and returns
// once a worker has accepted every one, so they are in flight. A
// connection still in the listening socket's accept queue has no socket
// inode yet in /proc/net/tcp; accept gives it one.
func (u *appUnit) sendSlow(t *testing.T, n int, secs float64) *slowRequests {
	t.Helper()
	s := &slowRequests{n: n}
	ports := make(chan string, n)
	for range n {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
				DisableKeepAlives: true,
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					var d net.Dialer
					conn, err := d.DialContext(ctx, "tcp", u.addr)
					if err == nil {
						ports <- strconv.Itoa(conn.LocalAddr().(*net.TCPAddr).Port)
					}
					return conn, err
				},
			}}
			resp, err := c.Get(fmt.Sprintf("http://pmux/?sleep=%g", secs))
			if err == nil {
				var body []byte
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && (resp.StatusCode != 200 || !helloLine.Match(body)) {
					err = fmt.Errorf("status %d: %q", resp.StatusCode, body)
				}
			}
			if err != nil {
				s.mu.Lock()
				s.errs = append(s.errs, err.Error())
				s.mu.Unlock()
			}
		}()
	}
	mine := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(mine) < n || acceptedFrom(t, u.addr, mine) < n {
		select {
		case p := <-ports:
			mine[p] = true
			continue
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %d slow requests were not all accepted within 10s (%d connected)", n, len(mine))
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s
}

func (s *slowRequests) check(t *testing.T, what string) {
	t.Helper()
	s.wg.Wait()
	if len(s.errs) > 0 {
		t.Errorf("%s: %d of %d in-flight requests failed: %v", what, len(s.errs), s.n, s.errs)
	}
}

// acceptedFrom counts the connections to addr from the given local ports
// that a server has accepted, from the machine's /proc/net/tcp (addresses
// in hex, the socket's inode in the tenth column, 0 until accepted).
func acceptedFrom(t *testing.T, addr string, ports map[string]bool) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	local := fmt.Sprintf(":%04X", p)
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || !strings.HasSuffix(f[1], local) || f[9] == "0" {
			continue
		}
		_, remote, _ := strings.Cut(f[2], ":")
		rp, _ := strconv.ParseInt(remote, 16, 32)
		if ports[strconv.Itoa(int(rp))] {
			n++
		}
	}
	return n
}

// withInFlight runs systemctl verb on the service while 3 requests of 1 s
// are in flight: each must be answered in full, and systemd must not kill
// the service. It returns systemd's view after, and how long systemctl
// took.
func (u *appUnit) withInFlight(t *testing.T, verb string) (unitState, time.Duration) {
	t.Helper()
	mark := u.b.console.mark()
	slow := u.sendSlow(t, 3, 1)
	start := time.Now()
	u.b.systemctl(verb, u.service)
	took := time.Since(start)
	slow.check(t, "systemctl "+verb)
	// A SIGKILL that reaches the main process fails the unit; one that
	// reaches a process already on its way out (a master whose last
	// threads are still exiting, its guard) changes nothing, and is only
	// logged: it happens on a heavily loaded machine.
	c := u.b.console.since(mark)
	if strings.Contains(c, "Main process exited, code=killed") || strings.Contains(c, "Failed with result") {
		t.Errorf("systemctl %s: systemd killed the service:\n%s", verb, c)
	} else if strings.Contains(c, "with signal SIGKILL") {
		t.Logf("systemctl %s: systemd killed a process on its way out:\n%s", verb, c)
	}
	return u.b.show(u.service), took
}

// stop stops the service with requests in flight, which systemd ends with
// Result=success.
func (u *appUnit) stop(t *testing.T) {
	t.Helper()
	st, took := u.withInFlight(t, "stop")
	if st["ActiveState"] != "inactive" || st["Result"] != "success" {
		t.Errorf("after systemctl stop: %v, want inactive, Result=success", st)
	}
	t.Logf("systemctl stop with 3 requests of 1 s in flight: %v, answered; %v", took.Round(time.Millisecond), st)
	u.b.systemctl("stop", u.socket)
}

// restart restarts the service under load with requests in flight: the
// socket unit keeps the listening socket, so new connections wait in its
// queue and none is refused.
func (u *appUnit) restart(t *testing.T, load *pmuxtest.Load) {
	t.Helper()
	old := u.b.show(u.service).mainPID()
	st, took := u.withInFlight(t, "restart")
	if st["ActiveState"] != "active" || st["Result"] != "success" || st["NRestarts"] != "0" || st.mainPID() == old {
		t.Errorf("after systemctl restart: %v, want active, success, NRestarts 0, a new main pid (was %d)", st, old)
	}
	u.requireServing(t, st.mainPID(), 1)
	u.endLoad(t, load)
	t.Logf("systemctl restart with 3 requests of 1 s in flight and under load: %v; %v", took.Round(time.Millisecond), st)
}
