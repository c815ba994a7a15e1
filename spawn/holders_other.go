//go:build !linux

package spawn

import (
	"errors"
	"os"
)

// ErrGroupGone reports a process group whose leader has exited.
var ErrGroupGone = errors.New("the group's leader has exited")

// SocketInode needs /proc to be of any use, which only Linux has.
func SocketInode(f *os.File) (uint64, error) { return 0, ErrNotSupported }

// GroupHoldsInodes reads /proc, which only Linux has.
func GroupHoldsInodes(pgid int, inodes []uint64) (bool, error) { return false, ErrNotSupported }
