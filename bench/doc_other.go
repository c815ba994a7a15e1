//go:build !linux

// Command bench measures pmux against gunicorn and unicorn; it reads
// /proc and runs on Linux only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "bench: Linux only (it reads /proc)")
	os.Exit(1)
}
