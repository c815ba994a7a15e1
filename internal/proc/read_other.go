//go:build !linux

package proc

// Elsewhere there is no /proc: every reader fails with ErrNotSupported.

func (fs FS) Pids() ([]int, error)                    { return nil, ErrNotSupported }
func (fs FS) Stat(pid int) (Stat, error)              { return Stat{}, ErrNotSupported }
func (fs FS) RSS(pid int) (int64, error)              { return 0, ErrNotSupported }
func (fs FS) Status(pid int) (Status, error)          { return nil, ErrNotSupported }
func (fs FS) TaskStatus(pid, tid int) (Status, error) { return nil, ErrNotSupported }
func (fs FS) Tasks(pid int) ([]int, error)            { return nil, ErrNotSupported }
func (fs FS) FDs(pid int) ([]int, error)              { return nil, ErrNotSupported }
func (fs FS) SelfFDs() ([]int, error)                 { return nil, ErrNotSupported }
func (fs FS) FDLink(pid, fd int) (string, error)      { return "", ErrNotSupported }
func (fs FS) Environ(pid int) ([]string, error)       { return nil, ErrNotSupported }
func (fs FS) Cmdline(pid int) ([]string, error)       { return nil, ErrNotSupported }
func (fs FS) Exe(pid int) (string, error)             { return "", ErrNotSupported }
func (fs FS) Visible(pid int) bool                    { return false }
func (fs FS) Comm(pid int) (string, error)            { return "", ErrNotSupported }
func (fs FS) PSS(pid int) (int64, error)              { return 0, ErrNotSupported }
func (fs FS) SelfMaps() ([]Mapping, error)            { return nil, ErrNotSupported }
func (fs FS) SelfExePath() (string, error)            { return "", ErrNotSupported }
func (fs FS) LoadAvg() (string, error)                { return "", ErrNotSupported }
func (fs FS) CPUModel() (string, error)               { return "", ErrNotSupported }
func (fs FS) KernelRelease() (string, error)          { return "", ErrNotSupported }
