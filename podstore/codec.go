package podstore

import (
	"encoding/json"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
)

// codec stores manifests as JSON and reads JSON or YAML text, the form P2 kept intent in.
// A YAML value is read as strictly as JSON and written back as JSON by the next update.
type codec struct{}

func (codec) Marshal(m *manifest.Manifest) ([]byte, error) { return json.Marshal(m) }

func (codec) Unmarshal(data []byte, m *manifest.Manifest) error {
	p, err := manifest.Parse(data)
	if err != nil {
		return err
	}
	*m = *p
	return nil
}

// sharedManifests is how many distinct manifest texts decoded lately are kept, with what
// they decode to. A fleet runs a few distinct manifests on many nodes; this bounds what a
// fleet of all-different manifests keeps (a few MB).
const sharedManifests = 2048

// manifests is the codec of every pod store of the process. Manifests read from the same
// bytes share their maps, slices and pointers (kv.Shared): a daemon set puts one manifest
// on every node, and a process that watches many nodes' intent and reality (a controller's
// fleet view, a simulated fleet) would otherwise hold a decoded copy per node and parse
// the same text once per node.
var manifests = kv.Shared[manifest.Manifest](codec{}, sharedManifests)
