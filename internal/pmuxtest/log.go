package pmuxtest

import "strconv"

// IntField reads a number from a log entry, as JSON gives it (float64) or
// as a string; 0 when it is neither.
func IntField(e map[string]any, key string) int {
	switch v := e[key].(type) {
	case float64:
		return int(v)
	case string:
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

// PidsOf is the "pid" field of each entry.
func PidsOf(events []map[string]any) []int {
	var out []int
	for _, e := range events {
		out = append(out, IntField(e, "pid"))
	}
	return out
}

// GenIs matches log entries of one generation.
func GenIs(gen int) func(map[string]any) bool {
	return func(e map[string]any) bool { return IntField(e, "gen") == gen }
}

// LiveWorkers replays the log: spawned minus exited, by pid.
func LiveWorkers(logs []map[string]any) map[int]map[string]any {
	live := map[int]map[string]any{}
	for _, e := range logs {
		switch e["event"] {
		case "worker_spawned":
			live[IntField(e, "pid")] = e
		case "worker_exited":
			delete(live, IntField(e, "pid"))
		}
	}
	return live
}

// MasterIs matches log entries of the master pid (the old and the new
// master of an upgrade share one log).
func MasterIs(pid int) func(map[string]any) bool {
	return func(e map[string]any) bool { return IntField(e, "master") == pid }
}

// AnyStopping reports whether a worker of live has been asked to stop.
func AnyStopping(logs []map[string]any, live map[int]map[string]any) bool {
	for _, e := range logs {
		if e["event"] == "worker_stopping" && live[IntField(e, "pid")] != nil {
			return true
		}
	}
	return false
}

// TargetFromLog replays the log for the pool's worker count, initial until
// a scale or a new generation says otherwise.
func TargetFromLog(logs []map[string]any, initial int) int {
	n := initial
	for _, e := range logs {
		switch e["event"] {
		case "pool_scaled", "generation_started":
			n = IntField(e, "workers")
		}
	}
	return n
}

// Settled reports whether a one-pool master has settled, by its log: the
// live workers are as many as its target (TargetFromLog from initial, or
// none after a signal that stops the workers), none of them asked to stop,
// all of the newest generation and ready.
func Settled(logs []map[string]any, initial int) bool {
	live := LiveWorkers(logs)
	gen := 1
	stopWorkers := false
	ready := map[int]bool{}
	for _, e := range logs {
		switch e["event"] {
		case "generation_started":
			gen = IntField(e, "gen")
		case "signal_received":
			stopWorkers = e["action"] == "stop_workers"
		case "worker_ready":
			ready[IntField(e, "pid")] = true
		}
	}
	want := TargetFromLog(logs, initial)
	if stopWorkers {
		want = 0
	}
	if len(live) != want || AnyStopping(logs, live) {
		return false
	}
	for pid, e := range live {
		if IntField(e, "gen") != gen || !ready[pid] {
			return false
		}
	}
	return true
}
