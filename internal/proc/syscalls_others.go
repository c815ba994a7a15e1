//go:build !amd64 && !arm64

package proc

// NativeSyscalls is empty on the architectures whose numbers pmux does not
// know: no thread is ever seen waiting, and --ready auto falls back as for
// a server it cannot read (ready at the boot timeout, with a warning).
var NativeSyscalls = SyscallTable{}
