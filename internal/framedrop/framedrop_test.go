package framedrop

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func frame(payload string) []byte {
	n := len(payload)
	return append([]byte{byte(n >> 16), byte(n >> 8), byte(n), 0, 0, 0, 0, 0, 1}, payload...)
}

// Frames split across chunks at every byte are dropped whole: what passes
// is exactly the frames sent while not dropping, in order.
func TestDropsWholeFrames(t *testing.T) {
	a, b, c, empty := frame("first"), frame("second, dropped"), frame("third"), frame("")
	for split := 1; split < 40; split++ {
		d := New()
		var got []byte
		feed := func(p []byte) {
			for len(p) > 0 {
				n := min(split, len(p))
				got = append(got, d.Modify(p[:n])...)
				p = p[n:]
			}
		}
		feed(a[:3]) // a frame under way when Drop is called is kept
		d.Drop()
		feed(a[3:])
		feed(b)
		feed(empty)
		feed(c[:4])
		d.Pass() // and a frame under way when Pass is called is dropped
		feed(c[4:])
		feed(a)
		require.Equal(t, string(bytes.Join([][]byte{a, a}, nil)), string(got), "split %d", split)
		require.Equal(t, string(bytes.Join([][]byte{b, empty, c}, nil)), string(d.Dropped()), "split %d", split)
	}
}
