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
