package podstore

import (
	"encoding/json"
	"sync"

	"github.com/p2kit/p2kit/manifest"
)

// codec stores manifests as JSON and reads JSON or YAML text, the form P2 kept intent in.
// A YAML value is read as strictly as JSON and written back as JSON by the next update.
//
// Manifests read from the same bytes share their maps, slices and pointers (see decoded):
// a daemon set puts one manifest on every node, and a process that watches many nodes'
// intent and reality (a controller's fleet view, a simulated fleet) would otherwise hold a
// decoded copy per node and parse the same text once per node.
type codec struct{}

func (codec) Marshal(m *manifest.Manifest) ([]byte, error) { return json.Marshal(m) }

func (codec) Unmarshal(data []byte, m *manifest.Manifest) error {
	if p := decoded.get(data); p != nil {
		*m = *p
		return nil
	}
	p, err := manifest.Parse(data)
	if err != nil {
		return err
	}
	decoded.add(data, p)
	*m = *p
	return nil
}

// sharedManifests is how many distinct manifest texts decoded lately are kept, with what
// they decode to. A fleet runs a few distinct manifests on many nodes; this bounds what a
// fleet of all-different manifests keeps (a few MB).
const sharedManifests = 2048

// decoded is the process's table of manifests by the bytes they were decoded from; the
// oldest entry goes when it is full.
var decoded = manifestTable{m: make(map[string]*manifest.Manifest, sharedManifests)}

type manifestTable struct {
	mu   sync.Mutex
	m    map[string]*manifest.Manifest
	ring [sharedManifests]string // keys in the order added
	next int
}

func (t *manifestTable) get(data []byte) *manifest.Manifest {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[string(data)]
}

func (t *manifestTable) add(data []byte, p *manifest.Manifest) {
	key := string(data)
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.m[key]; ok {
		return
	}
	if old := t.ring[t.next]; old != "" {
		delete(t.m, old)
	}
	t.ring[t.next] = key
	t.next = (t.next + 1) % sharedManifests
	t.m[key] = p
}
