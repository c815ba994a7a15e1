package master

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pmux/pmux/config"
	"github.com/pmux/pmux/internal/fault"
	"github.com/pmux/pmux/manager"
	"github.com/pmux/pmux/signalmap"
	"github.com/pmux/pmux/sockets"
	"github.com/pmux/pmux/spawn"
)

// resolvedPool is a config pool turned into what the manager runs, plus
// the binds still to open.
type resolvedPool struct {
	manager manager.PoolConfig
	binds   []sockets.Spec
}

func resolvePools(cfg *config.Config) ([]*resolvedPool, error) {
	var out []*resolvedPool
	for _, p := range cfg.Pools {
		r, err := resolvePool(p)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func resolvePool(p config.Pool) (*resolvedPool, error) {
	r := &resolvedPool{manager: manager.PoolConfig{
		Name:            p.Name,
		Args:            p.Command,
		Dir:             p.Chdir,
		Workers:         p.Workers,
		BootTimeout:     time.Duration(p.BootTimeout),
		GracefulTimeout: time.Duration(p.GracefulTimeout),
		QuickTimeout:    time.Duration(p.QuickTimeout),
		Watchdog:        time.Duration(p.Watchdog),
		MaxLifetime:     time.Duration(p.MaxLifetime),
		MaxRSS:          int64(p.MaxRSS),
		Timeout:         time.Duration(p.Timeout),
		Compat:          p.Compat,
		Umask:           -1,
	}}
	mp := &r.manager
	for _, b := range p.Bind {
		spec, err := sockets.Parse(b)
		if err != nil {
			return nil, fault.OfInput(err)
		}
		r.binds = append(r.binds, spec)
	}
	switch ready := p.EffectiveReady(); ready.Mode {
	case config.ReadyAuto:
		mp.Ready = manager.ReadyAuto
	case config.ReadyNotify:
		mp.Ready = manager.ReadyNotify
	case config.ReadyDelay:
		mp.Ready, mp.ReadyDelay = manager.ReadyDelay, ready.Delay
	default:
		mp.Ready = manager.ReadyAtExec
	}
	var err error
	if mp.StopSignal, err = parseSignalFlag("stop-signal", p.StopSignal); err != nil {
		return nil, err
	}
	if mp.QuickSignal, err = parseSignalFlag("quick-signal", p.QuickSignal); err != nil {
		return nil, err
	}
	for _, f := range p.Forward {
		sig, err := parseSignalFlag("forward", f)
		if err != nil {
			return nil, err
		}
		mp.Forward = append(mp.Forward, sig)
	}
	if p.Umask != "" {
		m, err := strconv.ParseUint(p.Umask, 8, 32)
		if err != nil || m > 0o777 {
			return nil, fault.OfInput(fmt.Errorf("--umask %q: not an octal mode such as 0022", p.Umask))
		}
		mp.Umask = int(m)
	}
	if mp.Credential, err = credential(p.User, p.Group); err != nil {
		return nil, err
	}
	if mp.Env, err = workerBaseEnv(p); err != nil {
		return nil, err
	}
	who := workerRunner(mp.Credential, p.User)
	if p.Chdir != "" {
		if err := checkWorkDir(p.Chdir, who); err != nil {
			return nil, fault.OfMachine(fmt.Errorf("--chdir %s: %w", p.Chdir, err))
		}
	}
	path := envValue(mp.Env, "PATH")
	if mp.Path, err = lookCommand(p.Command[0], path, p.Chdir, who); err != nil {
		return nil, fault.OfMachine(err)
	}
	// sh -c 'exec app …' (every Procfile entry that is one command) runs
	// app: check it as well, or its failure would be sh's exit 126 or
	// 127 on every respawn.
	if prog, ok := shellExecTarget(p.Command); ok {
		if _, err := lookCommand(prog, path, p.Chdir, who); err != nil {
			return nil, fault.OfMachine(err)
		}
	}
	if mp.Credential != nil {
		if err := checkSelfRunnable(who); err != nil {
			return nil, fault.OfMachine(err)
		}
	}
	return r, nil
}

func parseSignalFlag(flag, name string) (syscall.Signal, error) {
	sig, err := signalmap.ParseSignal(name)
	if err != nil {
		return 0, fault.OfInput(fmt.Errorf("--%s: %w", flag, err))
	}
	return sig, nil
}

// workerBaseEnv is pmux's environment without its own internals, then the
// env files in order, then --env: later sources win.
func workerBaseEnv(p config.Pool) ([]string, error) {
	var env []string
	for _, kv := range os.Environ() {
		key, _, _ := strings.Cut(kv, "=")
		if isInternalVar(key) || key == "GODEBUG" {
			continue
		}
		env = append(env, kv)
	}
	if v, ok := spawn.WorkerGodebug(); ok {
		env = append(env, "GODEBUG="+v)
	}
	for _, path := range p.EnvFile {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fault.OfMachine(fmt.Errorf("read env file %s: %w", path, PathCause(err)))
		}
		lookup := func(k string) (string, bool) {
			v := envValue(env, k)
			return v, v != ""
		}
		vars, err := config.ParseEnvFile(path, data, lookup)
		if err != nil {
			return nil, fault.OfInput(err)
		}
		env = spawn.MergeEnv(env, vars...)
	}
	keys := make([]string, 0, len(p.Env))
	for k, v := range p.Env {
		keys = append(keys, k+"="+v)
	}
	return spawn.MergeEnv(env, keys...), nil
}

// isInternalVar reports variables that describe pmux's own situation and
// must not reach a worker (pmux sets them itself).
func isInternalVar(key string) bool {
	switch key {
	case "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID":
		return true
	}
	return strings.HasPrefix(key, "PMUX_") || strings.HasPrefix(key, "__PMUX")
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// PathCause is the cause of a failed file operation without the path and
// operation an *fs.PathError repeats, for a line that names them itself.
func PathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// credential resolves --user and --group. A user alone brings its primary
// group and supplementary groups, as login would.
func credential(userName, groupName string) (*syscall.Credential, error) {
	if userName == "" && groupName == "" {
		return nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), NoSetGroups: true}
	if userName != "" {
		u, err := lookupUser(userName)
		if err != nil {
			return nil, fault.OfInput(fmt.Errorf("--user %s: %w", userName, err))
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
		if ids, err := u.GroupIds(); err == nil {
			cred.NoSetGroups = false
			for _, g := range ids {
				if n, err := strconv.ParseUint(g, 10, 32); err == nil {
					cred.Groups = append(cred.Groups, uint32(n))
				}
			}
		}
	}
	if groupName != "" {
		g, err := lookupGroup(groupName)
		if err != nil {
			return nil, fault.OfInput(fmt.Errorf("--group %s: %w", groupName, err))
		}
		gid, _ := strconv.ParseUint(g.Gid, 10, 32)
		cred.Gid = uint32(gid)
	}
	if os.Getuid() != 0 && (cred.Uid != uint32(os.Getuid()) || cred.Gid != uint32(os.Getgid())) {
		return nil, fault.OfMachine(fmt.Errorf("--user/--group: changing to uid %d gid %d needs root: start pmux as root, or drop the flags", cred.Uid, cred.Gid))
	}
	if os.Getuid() != 0 {
		cred.NoSetGroups = true
	}
	return cred, nil
}

func lookupUser(name string) (*user.User, error) {
	if _, err := strconv.Atoi(name); err == nil {
		return user.LookupId(name)
	}
	return user.Lookup(name)
}

func lookupGroup(name string) (*user.Group, error) {
	if _, err := strconv.Atoi(name); err == nil {
		return user.LookupGroupId(name)
	}
	return user.LookupGroup(name)
}
