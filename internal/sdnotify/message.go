package sdnotify

import (
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Message is one sd_notify datagram from a worker, with the sender's
// pid as the kernel vouched for it (SCM_CREDENTIALS).
type Message struct {
	Pid    int
	Fields map[string]string
}

// Parse splits an sd_notify datagram into its KEY=VALUE lines.
func Parse(data []byte) map[string]string {
	fields := make(map[string]string)
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k != "" {
			fields[k] = v
		}
	}
	return fields
}

// ReloadingState is systemd's RELOADING=1, which must carry the
// CLOCK_MONOTONIC time of the reload's start.
func ReloadingState() string {
	return "RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(monotonicUsec(), 10)
}

func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / int64(time.Microsecond)
}
