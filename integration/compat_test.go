package integration_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/pmuxtest"
)

// compatReport is what testdata/compat_worker answers.
type compatReport struct {
	Convention string `json:"convention"`
	Pid        int    `json:"pid"`
	Slot       string `json:"slot"`
	Generation string `json:"generation"`
	Sockets    []struct {
		FD     int    `json:"fd"`
		Addr   string `json:"addr"`
		Family string `json:"family"`
	} `json:"sockets"`
	Served string `json:"served"`
}

func getCompat(t *testing.T, m *pmuxtest.Master, c *http.Client) compatReport {
	t.Helper()
	resp, err := c.Get("http://pmux/")
	if err != nil {
		t.Fatalf("GET /: %v; worker output:\n%s", err, strings.Join(m.Output(), "\n"))
	}
	defer resp.Body.Close()
	var r compatReport
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return r
}

// compatFrom asks until both slots answered, all from generation gen.
func compatFrom(t *testing.T, m *pmuxtest.Master, c *http.Client, gen int) map[string]compatReport {
	t.Helper()
	seen := map[string]compatReport{}
	for i := 0; i < 400 && len(seen) < 2; i++ {
		r := getCompat(t, m, c)
		if r.Generation != strconv.Itoa(gen) {
			t.Fatalf("answer from generation %q, want %d: %+v", r.Generation, gen, r)
		}
		seen[r.Slot] = r
	}
	if seen["0"].Pid == 0 || seen["1"].Pid == 0 {
		t.Fatalf("heard from slots %v, want 0 and 1", seen)
	}
	return seen
}

// Workers written for einhorn or Server::Starter find pmux's sockets
// through that convention alone (the worker never reads LISTEN_FDS), on
// TCP and unix sockets, across a reload.
func TestCompatConventions(t *testing.T) {
	bin := pmuxtest.GoBuild(t, "./testdata/compat_worker")
	for _, conv := range []string{"einhorn", "server-starter"} {
		t.Run(conv, func(t *testing.T) {
			t.Parallel()
			sock := filepath.Join(t.TempDir(), "w.sock")
			m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "2", "-b", "127.0.0.1:0", "-b", "unix:"+sock,
				"--compat", conv, "--ready", "delay=100ms", "--", bin, conv)
			addr := m.Addr()
			m.ReadyWorkers(2)
			tcp := pmuxtest.NewClient("tcp", addr)
			for slot, r := range compatFrom(t, m, tcp, 1) {
				if r.Convention != conv || len(r.Sockets) != 2 {
					t.Fatalf("slot %s: %+v, want %s with 2 sockets", slot, r, conv)
				}
				s0, s1 := r.Sockets[0], r.Sockets[1]
				if s0.FD != 3 || s0.Addr != addr || s1.FD != 4 || s1.Addr != sock {
					t.Errorf("slot %s: sockets %+v, want fd 3 = %s and fd 4 = %s", slot, r.Sockets, addr, sock)
				}
				if conv == "einhorn" && (s0.Family != "AF_INET" || s1.Family != "AF_UNIX") {
					t.Errorf("slot %s: families %s, %s; want AF_INET, AF_UNIX", slot, s0.Family, s1.Family)
				}
				if r.Served != addr {
					t.Errorf("slot %s: served on %q, want %s", slot, r.Served, addr)
				}
			}
			if r := getCompat(t, m, pmuxtest.NewClient("unix", sock)); r.Served != sock {
				t.Errorf("a request on the unix socket was served on %q", r.Served)
			}

			before := m.LivePids()
			m.Signal(syscall.SIGHUP)
			m.WaitEvents("worker_ready", 2, 30*time.Second, pmuxtest.GenIs(2))
			m.WaitExited(before, 30*time.Second)
			// SERVER_STARTER_GENERATION follows pmux's generation.
			compatFrom(t, m, tcp, 2)

			m.MustStop(syscall.SIGQUIT, 30*time.Second)
			if n := len(m.Events("worker_exited")); n != 4 {
				t.Errorf("%d worker exits, want 4 (a worker rejected the convention?); output:\n%s", n, strings.Join(m.Output(), "\n"))
			}
		})
	}
	t.Run("none unless asked", func(t *testing.T) {
		t.Parallel()
		m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-b", "127.0.0.1:0", "--", pmuxtest.Worker())
		r := pmuxtest.GetReport(t, pmuxtest.NewClient("tcp", m.Addr()))
		for k := range r.Env {
			if strings.HasPrefix(k, "EINHORN_") || strings.HasPrefix(k, "SERVER_STARTER_") {
				t.Errorf("%s set without --compat", k)
			}
		}
	})
}

func TestCompatUnknownNameIsRejected(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pmux.toml")
	os.WriteFile(cfg, []byte("[[pool]]\ncommand = [\"true\"]\nbind = [\"127.0.0.1:0\"]\ncompat = [\"einhorn\", \"inetd\"]\n"), 0o644)
	cases := []struct {
		name string
		args []string
		env  []string
	}{
		{"flag", []string{"run", "-b", "127.0.0.1:0", "--compat", "einhorn", "--compat", "inetd", "--", pmuxtest.Worker()}, nil},
		{"env", []string{"run", "-b", "127.0.0.1:0", "--", pmuxtest.Worker()}, []string{"PMUX_COMPAT=inetd"}},
		{"config file", []string{"run", "-c", cfg}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, kv := range tc.env {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			out, code := pmuxtest.RunPmux(t, tc.args...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if code != 2 || len(lines) != 1 || !strings.Contains(out, "inetd") || !strings.Contains(out, "server-starter") {
				t.Errorf("exit %d, output %q; want exit 2 and one line naming inetd and the valid names", code, out)
			}
		})
	}
}
