//go:build !unix

package sockets

import (
	"context"
	"os"
)

// Outside unix systems pmux cannot hand sockets to workers at all; every
// operation that touches a descriptor fails with ErrNotSupported, while the
// bind grammar still works (pmux check).

func bindTCP(_ context.Context, spec Spec, _ OpenOptions) (int, sockInfo, error) {
	return -1, sockInfo{}, bindError(spec, ErrNotSupported, "")
}

func bindUnix(spec Spec) (int, sockInfo, string, error) {
	return -1, sockInfo{}, "", bindError(spec, ErrNotSupported, "")
}

func adoptFD(int) (sockInfo, error) { return sockInfo{}, ErrNotSupported }

func inspectFile(*os.File) error { return ErrNotSupported }

func dupFile(*os.File) (int, error) { return -1, ErrNotSupported }

func checkActivationFD(int) error { return ErrNotSupported }

func claimActivationFD(int) error { return ErrNotSupported }

func closeFD(int) {}
