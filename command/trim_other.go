//go:build !linux

package command

// trimResidentBinary is Linux-only (MADV_PAGEOUT).
func trimResidentBinary() {}
