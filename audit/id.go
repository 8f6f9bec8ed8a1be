package audit

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// idTimeDigits is the width of the zero-padded Unix nanoseconds that start an
// id: enough for every positive int64.
const idTimeDigits = 19

// NewID returns a time-ordered record id for t: its Unix time in
// nanoseconds, zero-padded so ids sort by time as strings, then a random
// suffix so that two writers at the same instant never collide:
// "1764000000000000000-9f86d081".
func NewID(t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return idPrefix(t) + "-" + hex.EncodeToString(b[:])
}

// idPrefix is the part of an id that encodes t; every id made at t or later
// sorts at or after it.
func idPrefix(t time.Time) string {
	n := t.UnixNano()
	if n < 0 {
		n = 0
	}
	return fmt.Sprintf("%0*d", idTimeDigits, n)
}
