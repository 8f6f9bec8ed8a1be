package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"

	yaml3 "go.yaml.in/yaml/v3"
)

// envScalarsAsStrings rewrites js, the JSON form of the YAML document data, so that every
// scalar value of a launchable's env is the string its YAML text spells: P2 read env as a map
// of strings, so `ENABLED_BLAMS: 5` means "5" and `DEBUG: yes` means "yes", exactly as
// written. js is returned unchanged when no env value needs it.
func envScalarsAsStrings(data, js []byte) ([]byte, error) {
	var doc yaml3.Node
	if err := yaml3.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return js, nil // the JSON conversion has already judged the document
	}
	texts := map[string]map[string]string{} // launchable -> env name -> YAML text
	for name, env := range envNodes(doc.Content[0]) {
		for i := 0; i+1 < len(env.Content); i += 2 {
			k, v := env.Content[i], env.Content[i+1]
			if v.Kind == yaml3.ScalarNode && v.Tag != "!!null" {
				if texts[name] == nil {
					texts[name] = map[string]string{}
				}
				texts[name][k.Value] = v.Value
			}
		}
	}
	if len(texts) == 0 {
		return js, nil
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil {
		return js, nil //nolint:nilerr // the strict check reports it with its field
	}
	ls, _ := top["launchables"].(map[string]any)
	for name, vars := range texts {
		l, _ := ls[name].(map[string]any)
		env, _ := l["env"].(map[string]any)
		for k, text := range vars {
			switch env[k].(type) {
			case json.Number, bool:
				env[k] = text
			}
		}
	}
	out, err := json.Marshal(top)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return out, nil
}

// envNodes returns the env mapping of each launchable of the manifest mapping top.
func envNodes(top *yaml3.Node) map[string]*yaml3.Node {
	out := map[string]*yaml3.Node{}
	ls := mappingValue(top, "launchables")
	if ls == nil {
		return out
	}
	for i := 0; i+1 < len(ls.Content); i += 2 {
		if env := mappingValue(ls.Content[i+1], "env"); env != nil {
			out[ls.Content[i].Value] = env
		}
	}
	return out
}

// mappingValue returns the mapping node under key in the mapping n, or nil.
func mappingValue(n *yaml3.Node, key string) *yaml3.Node {
	if n == nil || n.Kind != yaml3.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			if v := n.Content[i+1]; v.Kind == yaml3.MappingNode {
				return v
			}
			return nil
		}
	}
	return nil
}
