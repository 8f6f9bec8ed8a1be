package rc

import (
	"testing"

	"github.com/p2kit/p2kit/storetest"
)

// FuzzDecode decodes arbitrary bytes as a replication controller the way the store reads
// them, and checks that decoding never panics and that valid values survive
// a round trip through their JSON (see storetest.FuzzRoundTrip).
func FuzzDecode(f *testing.F) {
	storetest.FuzzRoundTrip(f, (*RC).Validate, func(r *RC) (string, error) { return r.Manifest.Digest() })
}
