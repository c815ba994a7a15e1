//go:build !linux

package master

// trimResidentBinary is Linux-only (MADV_PAGEOUT).
func trimResidentBinary() {}
