package detach

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const pipeVar = "__PMUX_DAEMON_FD"

// Launch is how to start the daemonized master.
type Launch struct {
	Path   string   // pmux's own binary
	Args   []string // its argv, argv[0] included
	Output *os.File // its stdout and stderr
	// Wait bounds how long the launcher waits for the master's word.
	Wait time.Duration
}

// FailedError is a daemonized master's report that its start failed.
type FailedError struct {
	Pid     int
	Code    int // the master's exit code
	Message string
}

func (e *FailedError) Error() string { return e.Message }

// Start starts the master detached and waits for its word. It returns the
// master's pid once it serves, a *FailedError when it reported a failed
// start, and another error when it could not be started or said nothing.
func Start(l Launch) (int, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("daemonize: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(l.Path, l.Args[1:]...)
	cmd.Args[0] = l.Args[0]
	cmd.Env = append(os.Environ(), pipeVar+"=3")
	cmd.Stdout, cmd.Stderr = l.Output, l.Output
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return 0, fmt.Errorf("daemonize: %w", err)
	}
	pid := cmd.Process.Pid
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(l.Wait):
		cmd.Process.Release()
		return 0, fmt.Errorf("master %d runs but does not serve after %v (its workers are not ready): see its log, stop it with kill -QUIT %d", pid, l.Wait, pid)
	}
	switch {
	case line == "ready":
		cmd.Process.Release()
		return pid, nil
	case strings.HasPrefix(line, "exit "):
		cmd.Wait()
		codeText, msg, _ := strings.Cut(strings.TrimPrefix(line, "exit "), " ")
		code, _ := strconv.Atoi(codeText)
		return 0, &FailedError{Pid: pid, Code: code, Message: msg}
	default:
		cmd.Wait()
		return 0, fmt.Errorf("daemonized master %d exited before serving (%s): see its log", pid, cmd.ProcessState)
	}
}
