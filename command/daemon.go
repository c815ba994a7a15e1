package command

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pmux/pmux/config"
	"github.com/pmux/pmux/spawn"
)

// -D: the command the user ran (the launcher) starts the master anew in
// its own session and waits on a pipe for one line: "ready" once the
// first generation serves, or "exit N message" when the start failed. So
// the launching command's exit status tells whether the service runs.
const daemonPipeVar = "__PMUX_DAEMON_FD"

// daemonPipe is the daemonized master's end of the launcher's pipe; nil
// in every other process.
var daemonPipe struct {
	sync.Mutex
	f *os.File
}

// takeDaemonPipe claims the pipe if this process is the daemonized master.
func takeDaemonPipe() bool {
	fd, ok := os.LookupEnv(daemonPipeVar)
	os.Unsetenv(daemonPipeVar)
	if !ok {
		return false
	}
	n, err := strconv.Atoi(fd)
	if err != nil {
		return false
	}
	daemonPipe.f = os.NewFile(uintptr(n), "daemon-ready")
	return true
}

// tellLauncher sends the launcher its one line and closes the pipe.
func tellLauncher(line string) {
	daemonPipe.Lock()
	defer daemonPipe.Unlock()
	if daemonPipe.f == nil {
		return
	}
	fmt.Fprintln(daemonPipe.f, line)
	daemonPipe.f.Close()
	daemonPipe.f = nil
}

// daemonSupervisor tells the launcher when the master first serves.
func daemonSupervisor(next func(string)) func(string) {
	return func(state string) {
		if strings.HasPrefix(state, "READY=1") {
			tellLauncher("ready")
		}
		if next != nil {
			next(state)
		}
	}
}

// launchDaemon starts the master detached and waits for its word.
func launchDaemon(cfg *config.Config) error {
	self, err := spawn.SelfExecutable()
	if err != nil {
		return runtimeError(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return runtimeError(fmt.Errorf("daemonize: %w", err))
	}
	defer r.Close()
	out, err := daemonOutput(cfg.Log.File)
	if err != nil {
		w.Close()
		return runtimeError(err)
	}
	defer out.Close()
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), daemonPipeVar+"=3")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return runtimeError(fmt.Errorf("daemonize: %w", err))
	}
	pid := cmd.Process.Pid
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	// Workers that never get ready would keep the launcher waiting: give
	// up after the longest boot timeout, leaving the master to its retries.
	wait := 5 * time.Second
	for _, p := range cfg.Pools {
		wait = max(wait, time.Duration(p.BootTimeout)+5*time.Second)
	}
	var line string
	select {
	case line = <-lines:
	case <-time.After(wait):
		cmd.Process.Release()
		return runtimeError(fmt.Errorf("master %d runs but does not serve after %v (its workers are not ready): see its log, stop it with kill -QUIT %d", pid, wait, pid))
	}
	switch {
	case line == "ready":
		cmd.Process.Release()
		fmt.Fprintf(os.Stdout, "pmux: master %d serving in the background\n", pid)
		return nil
	case strings.HasPrefix(line, "exit "):
		cmd.Wait()
		codeText, msg, _ := strings.Cut(strings.TrimPrefix(line, "exit "), " ")
		code, _ := strconv.Atoi(codeText)
		return &exitError{code: max(code, exitRuntime), err: errors.New(msg)}
	default:
		cmd.Wait()
		return runtimeError(fmt.Errorf("daemonized master %d exited before serving (%s): see its log", pid, cmd.ProcessState))
	}
}

// daemonOutput is where a daemon's stdout and stderr go: the log file
// when there is one, else nowhere.
func daemonOutput(logFile string) (*os.File, error) {
	if logFile == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("daemonize: open log file %s: %w", logFile, unwrapPathError(err))
	}
	return f, nil
}
