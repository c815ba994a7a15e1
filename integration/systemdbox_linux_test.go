package integration_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pmux/pmux/internal/pmuxtest"
)

// A real systemd for the tests: /lib/systemd/systemd booted as PID 1 of
// new pid, mount, cgroup, UTS and IPC namespaces, seeing only what the
// test gives it, so that nothing of the machine is touched and everything
// is gone at the end:
//
//   - its own cgroup-v2 subtree (a child of the test's cgroup on the
//     machine's cgroup2 mount, the root of its cgroup namespace);
//   - private mounts: tmpfs on /run, /tmp and /var/lib/systemd, a /dev of
//     its own whose /dev/console is a pty the test reads, and the rest of
//     the machine read-only (/, /sys, /proc/sys);
//   - the test's own unit directory (SYSTEMD_UNIT_PATH) with minimal
//     targets, no generators, and a private /etc/passwd with the
//     example's User=app;
//   - no CAP_SYS_MODULE, CAP_SYS_TIME, CAP_SYSLOG, CAP_WAKE_ALARM or
//     CAP_SYS_BOOT, so it can neither load a module nor set the clock.
//
// It shares the machine's network namespace, so the tests reach its
// sockets on loopback. The test drives it with systemctl, run through
// nsenter in its mount and pid namespaces (systemctl as root talks to the
// private bus socket, /run/systemd/private, in the box's own /run).

const (
	systemdPath = "/lib/systemd/systemd"
	// boxDir is where the test's directory appears inside the box.
	boxDir = "/run/pmuxtest"
	// The example unit's User= and Group=, known only inside the box.
	boxAppUser = "app"
	boxAppUID  = 64123
)

// boxInit runs as PID 1 of the new namespaces, with the test's directory
// as $1 and the console pty as its stdio: it builds the private view of
// the file system and execs systemd. Every mount is in the box's own
// mount namespace (unshare makes it private); remounting a bind read-only
// changes that mount only, never the file system under it.
const boxInit = `set -eu
T=$1
console=$(tty)
mount -t tmpfs -o mode=755,nosuid,nodev pmuxtest-run /run
mkdir ` + boxDir + `
mount --bind "$T" ` + boxDir + `
D=/run/pmuxtest-dev
mkdir $D
mount -t tmpfs -o mode=755,nosuid pmuxtest-dev $D
mknod -m 666 $D/null c 1 3
mknod -m 666 $D/zero c 1 5
mknod -m 666 $D/full c 1 7
mknod -m 666 $D/random c 1 8
mknod -m 666 $D/urandom c 1 9
mknod -m 666 $D/tty c 5 0
touch $D/console
mount --bind "$console" $D/console
mkdir $D/pts $D/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts $D/pts
ln -s pts/ptmx $D/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev pmuxtest-shm $D/shm
ln -s /proc/self/fd $D/fd
ln -s /proc/self/fd/0 $D/stdin
ln -s /proc/self/fd/1 $D/stdout
ln -s /proc/self/fd/2 $D/stderr
mount --move $D /dev
rmdir $D
mount -t tmpfs -o mode=1777,nosuid,nodev pmuxtest-tmp /tmp
mount -t tmpfs -o mode=755,nosuid,nodev pmuxtest-varlib /var/lib/systemd
for f in passwd group; do
  mount --bind ` + boxDir + `/$f /etc/$f
  mount -o remount,bind,ro /etc/$f
done
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
mount -o remount,bind,ro /sys
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
mount -o remount,bind,ro /
exec setpriv --bounding-set=-sys_module,-sys_time,-syslog,-wake_alarm,-sys_boot \
  env -i container=pmuxtest \
  SYSTEMD_UNIT_PATH=` + boxDir + `/units \
  SYSTEMD_GENERATOR_PATH=` + boxDir + `/empty \
  SYSTEMD_ENVIRONMENT_GENERATOR_PATH=` + boxDir + `/empty \
  ` + systemdPath + ` --system --unit=pmuxtest.target --log-target=console --log-level=info \
  --show-status=no --default-standard-output=tty --default-standard-error=tty
`

// boxTargets are the units every service and socket depends on by
// default, reduced to names: the box has nothing else to start.
var boxTargets = map[string]string{
	"pmuxtest.target": "[Unit]\nDescription=pmux tests\nDefaultDependencies=no\n",
	"sysinit.target":  "[Unit]\nDefaultDependencies=no\n",
	"basic.target":    "[Unit]\nDefaultDependencies=no\n",
	"sockets.target":  "[Unit]\nDefaultDependencies=no\n",
	"shutdown.target": "[Unit]\nDefaultDependencies=no\n",
	"system.slice":    "[Unit]\nDefaultDependencies=no\n",
}

type systemdBox struct {
	t       *testing.T
	dir     string // on the machine; boxDir inside
	cgroup  string // the box's cgroup directory on the machine
	unshare *exec.Cmd
	exited  chan struct{} // closed once unshare (and so the box) has exited
	pid1    int           // systemd's pid on the machine
	console *boxConsole
	mounts  map[string]bool // the machine's mount points before the boot
}

// systemdUnavailable skips the test with the reason, or fails it when
// PMUX_REQUIRE_SYSTEMD=1 (CI installs systemd and runs as root).
func systemdUnavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("PMUX_REQUIRE_SYSTEMD") == "1" {
		t.Fatalf("cannot boot systemd: %s (PMUX_REQUIRE_SYSTEMD=1)", msg)
	}
	t.Skipf("cannot boot systemd: %s (skipping; PMUX_REQUIRE_SYSTEMD=1 makes this a failure)", msg)
}

// cgroup2Mount returns where the machine's cgroup-v2 hierarchy is mounted
// (/sys/fs/cgroup, or /sys/fs/cgroup/unified beside v1 hierarchies).
func cgroup2Mount() (string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if ok && len(f) >= 5 && len(g) >= 1 && g[0] == "cgroup2" {
			return f[4], nil
		}
	}
	return "", fmt.Errorf("no cgroup2 file system is mounted")
}

// ownCgroup is this process's cgroup-v2 path ("0::/path" in /proc/self/cgroup).
func ownCgroup() (string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("/proc/self/cgroup has no cgroup-v2 line")
}

func hasCapSysAdmin() bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_SYS_ADMIN) != 0
		}
	}
	return false
}

func mountPoints() map[string]bool {
	points := map[string]bool{}
	data, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 5 {
			points[f[4]] = true
		}
	}
	return points
}

// requireSystemd skips the test (or fails it, see systemdUnavailable)
// when this machine cannot boot a box: it needs root with CAP_SYS_ADMIN,
// systemd, util-linux and a cgroup-v2 hierarchy.
func requireSystemd(t *testing.T) {
	t.Helper()
	switch {
	case os.Geteuid() != 0:
		systemdUnavailable(t, "not root")
	case !hasCapSysAdmin():
		systemdUnavailable(t, "no CAP_SYS_ADMIN")
	}
	if _, err := os.Stat(systemdPath); err != nil {
		systemdUnavailable(t, "%v (Debian package systemd)", err)
	}
	for _, tool := range []string{"unshare", "nsenter", "setpriv", "mount", "mknod", "tty"} {
		if _, err := exec.LookPath(tool); err != nil {
			systemdUnavailable(t, "%s not found (Debian package util-linux or coreutils)", tool)
		}
	}
	if _, err := os.Stat("/var/lib/systemd"); err != nil {
		systemdUnavailable(t, "%v: the box mounts a tmpfs there", err)
	}
	if _, err := cgroup2Mount(); err != nil {
		systemdUnavailable(t, "%v", err)
	}
	if _, err := ownCgroup(); err != nil {
		systemdUnavailable(t, "%v", err)
	}
}

// bootSystemd boots a box with the binaries the tests run in it (by name
// in boxDir/bin) and waits until systemd has reached its target. The
// box is shut down, and checked to have left nothing, at the test's end.
// Call requireSystemd first.
func bootSystemd(t *testing.T, bins map[string]string) *systemdBox {
	t.Helper()
	mnt, err := cgroup2Mount()
	if err != nil {
		t.Fatal(err)
	}
	own, err := ownCgroup()
	if err != nil {
		t.Fatal(err)
	}

	b := &systemdBox{t: t, dir: pmuxtest.PublicTempDir(t), exited: make(chan struct{}), mounts: mountPoints()}
	for _, d := range []string{"bin", "units", "empty"} {
		if err := os.Mkdir(filepath.Join(b.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, path := range bins {
		pmuxtest.CopyFile(t, path, filepath.Join(b.dir, "bin", name))
	}
	for name, text := range boxTargets {
		b.writeFile("units/"+name, text)
	}
	b.writeFile("init.sh", boxInit)
	appendLine := func(src, dst, line string) {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		b.writeFile(dst, string(data)+line+"\n")
	}
	appendLine("/etc/passwd", "passwd", fmt.Sprintf("%s:x:%d:%d:pmux test app:/nonexistent:/usr/sbin/nologin", boxAppUser, boxAppUID, boxAppUID))
	appendLine("/etc/group", "group", fmt.Sprintf("%s:x:%d:", boxAppUser, boxAppUID))

	b.cgroup = filepath.Join(mnt, own, "pmux-systemd-"+filepath.Base(b.dir))
	if err := os.Mkdir(b.cgroup, 0o755); err != nil {
		systemdUnavailable(t, "create a cgroup for the box: %v", err)
	}
	cg, err := os.Open(b.cgroup)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	master, slave, err := openPty()
	if err != nil {
		os.Remove(b.cgroup)
		systemdUnavailable(t, "%v", err)
	}
	defer slave.Close()
	b.console = readConsole(master)

	b.unshare = exec.Command("unshare", "--pid", "--fork", "--mount", "--cgroup", "--uts", "--ipc",
		"--mount-proc", "--propagation", "private", "sh", filepath.Join(b.dir, "init.sh"), b.dir)
	b.unshare.Stdin, b.unshare.Stdout, b.unshare.Stderr = slave, slave, slave
	b.unshare.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	// Born in the box's cgroup (clone3's CLONE_INTO_CGROUP), so that its
	// cgroup namespace is rooted there; a session of its own with the
	// pty as controlling terminal.
	b.unshare.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	started := time.Now()
	if err := b.unshare.Start(); err != nil {
		master.Close()
		os.Remove(b.cgroup)
		systemdUnavailable(t, "start unshare: %v", err)
	}
	go func() { b.unshare.Wait(); close(b.exited) }()
	t.Cleanup(b.shutdown)

	// PID 1 is unshare's only child; it is systemd once init.sh has run.
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-b.exited:
			systemdUnavailable(t, "the box exited at boot (%v):\n%s", b.unshare.ProcessState, b.console.text())
		default:
		}
		if b.pid1 == 0 {
			b.pid1 = onlyChild(b.unshare.Process.Pid)
		}
		if b.pid1 != 0 {
			if out, err := b.inside(5*time.Second, "systemctl", "is-system-running"); err == nil && strings.TrimSpace(out) == "running" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd did not reach pmuxtest.target within 30s:\n%s", b.console.text())
		}
		time.Sleep(20 * time.Millisecond)
	}
	version, _ := b.inside(5*time.Second, systemdPath, "--version")
	t.Logf("systemd booted in %v: %s", time.Since(started).Round(time.Millisecond), strings.SplitN(version, "\n", 2)[0])
	return b
}

func (b *systemdBox) writeFile(name, text string) {
	b.t.Helper()
	if err := os.WriteFile(filepath.Join(b.dir, name), []byte(text), 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// onlyChild returns pid's child, 0 while it has none.
func onlyChild(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

// openPty returns a new pty's master and its peer, the box's console.
func openPty() (*os.File, *os.File, error) {
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(m)
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	s, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(m), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		unix.Close(m)
		return nil, nil, fmt.Errorf("open pty peer: %w", errno)
	}
	return os.NewFile(uintptr(m), "ptmx"), os.NewFile(s, "pty"), nil
}

// boxConsole is what systemd and its services write to /dev/console.
type boxConsole struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

func readConsole(master *os.File) *boxConsole {
	c := &boxConsole{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer master.Close()
		r := bufio.NewReader(master)
		for {
			line, err := r.ReadString('\n')
			c.mu.Lock()
			c.buf.WriteString(strings.TrimRight(line, "\r\n"))
			if line != "" {
				c.buf.WriteByte('\n')
			}
			c.mu.Unlock()
			if err != nil { // EIO once every holder of the peer is gone
				return
			}
		}
	}()
	return c
}

func (c *boxConsole) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// mark is the console's length now, to read only what follows.
func (c *boxConsole) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Len()
}

func (c *boxConsole) since(mark int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()[mark:]
}

// inside runs argv in the box as root, with an empty environment (but for
// the race runtime's exit, which would sleep a second), and returns its
// combined output.
func (b *systemdBox) inside(timeout time.Duration, argv ...string) (string, error) {
	b.t.Helper()
	args := append([]string{"-t", strconv.Itoa(b.pid1), "--mount", "--pid", "--",
		"env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "GORACE=atexit_sleep_ms=0"}, argv...)
	cmd := exec.Command("nsenter", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := pmuxtest.RunGroup(b.t, cmd, timeout)
	return out.String(), err
}

// asApp runs argv in the box as the example unit's user.
func (b *systemdBox) asApp(timeout time.Duration, argv ...string) (string, error) {
	b.t.Helper()
	return b.inside(timeout, append([]string{"setpriv", "--reuid=" + boxAppUser, "--regid=" + boxAppUser, "--clear-groups"}, argv...)...)
}

// systemctl runs systemctl in the box and fails the test if it fails.
func (b *systemdBox) systemctl(args ...string) string {
	b.t.Helper()
	out, err := b.inside(90*time.Second, append([]string{"systemctl", "--no-pager"}, args...)...)
	if err != nil {
		b.t.Fatalf("systemctl %s: %v\n%s\nconsole:\n%s", strings.Join(args, " "), err, out, b.console.text())
	}
	return out
}

// unitState is systemd's view of a service.
type unitState map[string]string

var unitProps = []string{"MainPID", "ActiveState", "SubState", "Result", "NRestarts", "StatusText"}

func (b *systemdBox) show(unit string) unitState {
	b.t.Helper()
	st := unitState{}
	out := b.systemctl("show", "-p", strings.Join(unitProps, ","), unit)
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			st[k] = v
		}
	}
	return st
}

func (s unitState) String() string {
	var parts []string
	for _, k := range unitProps {
		parts = append(parts, k+"="+strconv.Quote(s[k]))
	}
	return strings.Join(parts, " ")
}

func (s unitState) mainPID() int {
	n, _ := strconv.Atoi(s["MainPID"])
	return n
}

// shutdown ends the box: SIGKILL to its PID 1 ends every process of its
// pid namespace, and with the last of them its mounts go. Then it checks
// that nothing is left: no process in its cgroup, no cgroup, no mount.
func (b *systemdBox) shutdown() {
	t := b.t
	start := time.Now()
	if b.pid1 != 0 {
		syscall.Kill(b.pid1, syscall.SIGKILL)
	}
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		b.unshare.Process.Kill()
		<-b.exited
		t.Errorf("the box did not exit within 10s of its PID 1's SIGKILL")
	}
	select {
	case <-b.console.done:
	case <-time.After(5 * time.Second):
		t.Errorf("a process outside the box still holds its console")
	}
	// The cgroups empty as the killed processes are reaped; then the tree
	// is removed, deepest first.
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := b.cgroupProcs()
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("processes left in the box's cgroup: %v", left)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var dirs []string
	filepath.WalkDir(b.cgroup, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil {
			t.Errorf("remove the box's cgroup: %v", err)
		}
	}
	for p := range mountPoints() {
		if !b.mounts[p] {
			t.Errorf("mount left on the machine: %s", p)
		}
	}
	t.Logf("box shut down and checked in %v: no process, cgroup or mount left", time.Since(start).Round(time.Millisecond))
}

// cgroupProcs lists the pids in the box's cgroup tree.
func (b *systemdBox) cgroupProcs() []string {
	var pids []string
	filepath.WalkDir(b.cgroup, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "cgroup.procs" {
			data, _ := os.ReadFile(path)
			pids = append(pids, strings.Fields(string(data))...)
		}
		return nil
	})
	return pids
}
