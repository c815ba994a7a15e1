package proc

import (
	"encoding/binary"
	"testing"
)

// The samples are sock_diag dumps recorded on linux/amd64 with a TCP
// listener of backlog 7 holding 2 connections not yet accepted (inode
// 10747568) and a unix one of backlog 5 holding 3 (inode 10747571), among
// the machine's other listeners.
func TestParseDiagSamples(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the samples are little-endian")
	}
	for _, tc := range []struct {
		file  string
		f     DiagFamily
		inode uint64
		want  ListenQueue
	}{
		{"sockdiag-tcp4", DiagTCP4, 10747568, ListenQueue{Inode: 10747568, Queued: 2, Backlog: 7}},
		{"sockdiag-unix", DiagUnix, 10747571, ListenQueue{Inode: 10747571, Queued: 3, Backlog: 5}},
	} {
		data := readSample(t, tc.file)
		queues, done, err := ParseDiag(data, tc.f)
		if err != nil || !done {
			t.Fatalf("%s: done %v, err %v", tc.file, done, err)
		}
		var got *ListenQueue
		for i, q := range queues {
			if q.Inode == 0 || q.Backlog == 0 {
				t.Errorf("%s: listener %+v without inode or backlog", tc.file, q)
			}
			if q.Inode == tc.inode {
				got = &queues[i]
			}
		}
		if got == nil || *got != tc.want {
			t.Errorf("%s: %+v, want %+v among %d listeners", tc.file, got, tc.want, len(queues))
		}
		// Cut anywhere inside a message, a read is an error or an
		// unfinished dump, never a wrong queue.
		for cut := 1; cut < len(data); cut += 7 {
			qs, done, _ := ParseDiag(data[:cut], tc.f)
			for _, q := range qs {
				if q.Inode == tc.inode && q != tc.want {
					t.Fatalf("%s cut at %d: %+v", tc.file, cut, q)
				}
			}
			if done && cut < len(data)-20 {
				t.Fatalf("%s cut at %d: done", tc.file, cut)
			}
		}
	}
}

func TestParseDiagError(t *testing.T) {
	msg := make([]byte, 20)
	binary.NativeEndian.PutUint32(msg[0:], 20)
	binary.NativeEndian.PutUint16(msg[4:], nlmsgError)
	binary.NativeEndian.PutUint32(msg[16:], uint32(0xffffffff-1)) // -2: ENOENT
	if _, _, err := ParseDiag(msg, DiagUnix); err == nil {
		t.Error("an NLMSG_ERROR is no error")
	}
}
