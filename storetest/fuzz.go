package storetest

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzRoundTrip is the body of every entity's FuzzDecode target. It decodes
// arbitrary bytes the way a store reads them (encoding/json, then
// validate) and checks that decoding never panics, and that a value that
// decodes and validates re-encodes to JSON that decodes and validates again
// to the same encoding. identity, when not nil, names something that must
// survive the round trip too, such as the digest of an embedded manifest.
func FuzzRoundTrip[T any](f *testing.F, validate func(*T) error, identity func(*T) (string, error)) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var v T
		if err := json.Unmarshal(data, &v); err != nil {
			return
		}
		if err := validate(&v); err != nil {
			return
		}
		out, err := json.Marshal(&v)
		if err != nil {
			t.Fatalf("encode a valid value: %v", err)
		}
		var back T
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("decode the encoding of a valid value %s: %v", out, err)
		}
		if err := validate(&back); err != nil {
			t.Fatalf("the encoding of a valid value %s does not validate: %v", out, err)
		}
		again, err := json.Marshal(&back)
		if err != nil {
			t.Fatalf("encode a decoded value: %v", err)
		}
		if !bytes.Equal(out, again) {
			t.Fatalf("round trip changed the value:\n%s\n%s", out, again)
		}
		if identity == nil {
			return
		}
		id1, err1 := identity(&v)
		id2, err2 := identity(&back)
		if err1 != nil || err2 != nil || id1 != id2 {
			t.Fatalf("identity changed in a round trip: %s (%v) became %s (%v)", id1, err1, id2, err2)
		}
	})
}
