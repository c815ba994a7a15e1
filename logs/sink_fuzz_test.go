package logs

import (
	"bytes"
	"io"
	"testing"
)

// fuzzReader hands out data in pieces whose sizes come from the fuzzer,
// so line boundaries fall anywhere relative to reads.
type fuzzReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (r *fuzzReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.sizes) > 0 {
		s := int(r.sizes[r.i%len(r.sizes)])
		r.i++
		// 0 means a big read; otherwise a short one of 1..255 bytes.
		if s > 0 {
			n = min(n, s)
		}
	}
	n = copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// pumpReference is what Pump promises: each line (the last one even
// without its newline) cut into MaxLine pieces, each written as
// prefix+piece+"\n".
func pumpReference(data []byte, prefix string) []byte {
	var out []byte
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		for len(line) > MaxLine {
			out = append(append(append(out, prefix...), line[:MaxLine]...), '\n')
			line = line[MaxLine:]
		}
		out = append(append(append(out, prefix...), line...), '\n')
	}
	return out
}

// FuzzPump: worker output is never lost, reordered or split mid-line,
// whatever the lines and however the reads fall. long inserts a run of
// bytes around MaxLine, where the cutting happens.
func FuzzPump(f *testing.F) {
	f.Add([]byte("a\nbb\n\nccc"), []byte{1, 2, 0}, uint8(0), uint16(0))
	f.Add([]byte("no newline at all"), []byte{}, uint8(3), uint16(5))
	f.Add([]byte("x\n"), []byte{7}, uint8(2), uint16(1))
	f.Fuzz(func(t *testing.T, data, sizes []byte, long uint8, at uint16) {
		if long%8 != 0 {
			run := bytes.Repeat([]byte{'y'}, []int{MaxLine - 1, MaxLine, MaxLine + 1, 2 * MaxLine, 2*MaxLine + 1, 3, MaxLine / 2}[long%8-1])
			pos := int(at) % (len(data) + 1)
			data = append(append(append([]byte{}, data[:pos]...), run...), data[pos:]...)
		}
		var out bytes.Buffer
		NewSink(&out, SinkOptions{}).Pump(&fuzzReader{data: data, sizes: sizes}, "web", "w.1 | ")
		if want := pumpReference(data, "w.1 | "); !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("Pump wrote %d bytes, want %d\ngot  %.200q\nwant %.200q", out.Len(), len(want), out.Bytes(), want)
		}
	})
}
