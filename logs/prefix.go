package logs

import (
	"hash/fnv"
	"strconv"
	"strings"
	"unicode/utf8"
)

// palette holds the ANSI foreground colours a pool's prefix may get. Red is
// left out so that worker output never looks like pmux reporting an error.
var palette = []string{
	"\x1b[36m", // cyan
	"\x1b[33m", // yellow
	"\x1b[32m", // green
	"\x1b[35m", // magenta
	"\x1b[34m", // blue
	"\x1b[96m", // bright cyan
	"\x1b[93m", // bright yellow
	"\x1b[92m", // bright green
	"\x1b[95m", // bright magenta
	"\x1b[94m", // bright blue
}

const colorReset = "\x1b[0m"

// poolColor picks a colour by hashing the pool name, so a pool keeps its
// colour across restarts, reloads and runs, whatever the pool order.
func poolColor(pool string) string {
	h := fnv.New32a()
	h.Write([]byte(pool))
	return palette[h.Sum32()%uint32(len(palette))]
}

// Prefix returns the tag Pump puts before each line of a worker's output in
// run mode: "web.0 12345 | " for pool web, slot 0, pid 12345. With color
// (stdout is a terminal) the tag and bar take the pool's colour and the
// colour is reset before the worker's own text.
func Prefix(pool string, slot, pid int, color bool) string {
	label := pool + "." + strconv.Itoa(slot) + " " + strconv.Itoa(pid)
	return tag(pool, label, color)
}

// ProcfilePrefix returns the foreman-style tag of Procfile mode: "web.1 | "
// for pool web, process index 1, with the "pool.index" label padded to
// width characters so the bars line up across pools (pass the longest
// label's length). With color the tag takes the pool's colour.
func ProcfilePrefix(pool string, index int, color bool, width int) string {
	label := pool + "." + strconv.Itoa(index)
	if pad := width - utf8.RuneCountInString(label); pad > 0 {
		label += strings.Repeat(" ", pad)
	}
	return tag(pool, label, color)
}

func tag(pool, label string, color bool) string {
	if !color {
		return label + " | "
	}
	return poolColor(pool) + label + " |" + colorReset + " "
}
