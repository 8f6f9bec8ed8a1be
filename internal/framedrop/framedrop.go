// Package framedrop loses whole HTTP/2 frames on a connection that stays
// up, for tests: a fault real TCP never makes, but one a damaged network
// path or a broken middlebox can, and that a gRPC stream cannot notice.
// A Dropper plugs into one direction of etcd's test proxy
// (proxy.Server.ModifyRx) and drops whole frames only, so the connection's
// framing stays intact and nothing errors.
package framedrop

import "sync"

// Dropper drops the frames of one direction of one connection while it is
// on. It must see every byte of that direction from the connection's start
// (install it before the client connects), and the proxy must carry one
// connection only.
type Dropper struct {
	mu       sync.Mutex
	hdr      []byte // the part of a frame header read so far
	rest     int    // bytes of the current frame's payload still to come
	want     bool   // Drop was called and Pass not since
	dropping bool   // the current frame is being dropped
	dropped  []byte // what was dropped since the last Drop
}

// New returns a Dropper that passes everything until Drop is called.
func New() *Dropper { return &Dropper{} }

// Drop starts dropping from the next frame on.
func (d *Dropper) Drop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.want, d.dropped = true, nil
}

// Pass stops dropping once the frame being dropped has ended.
func (d *Dropper) Pass() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.want = false
}

// Dropped returns a copy of the bytes dropped since the last Drop.
func (d *Dropper) Dropped() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]byte(nil), d.dropped...)
}

// Modify is the proxy's modify function: it returns data without the
// frames to drop.
func (d *Dropper) Modify(data []byte) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]byte, 0, len(data))
	for len(data) > 0 {
		if len(d.hdr) == 0 && d.rest == 0 {
			d.dropping = d.want // a frame starts: decide its fate
		}
		var n int
		if d.rest > 0 {
			n = min(d.rest, len(data))
			d.rest -= n
		} else {
			n = min(9-len(d.hdr), len(data))
			d.hdr = append(d.hdr, data[:n]...)
			if len(d.hdr) == 9 {
				d.rest = int(d.hdr[0])<<16 | int(d.hdr[1])<<8 | int(d.hdr[2])
				d.hdr = d.hdr[:0]
			}
		}
		if d.dropping {
			d.dropped = append(d.dropped, data[:n]...)
		} else {
			out = append(out, data[:n]...)
		}
		data = data[n:]
	}
	return out
}
