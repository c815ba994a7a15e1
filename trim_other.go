//go:build !linux

package main

// trimResidentBinary is Linux-only (MADV_PAGEOUT).
func trimResidentBinary() {}
