package podstore

import (
	"encoding/json"

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
