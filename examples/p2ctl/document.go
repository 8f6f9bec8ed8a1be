package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// metadata is where a stored entity lives and the revisions it was read at,
// as get -o json|yaml prints them beside the value. apply reads it back:
// node names the node of a pod manifest, and mod_revision makes the write a
// compare-and-swap; the other fields are informative.
type metadata struct {
	Key            string `json:"key,omitempty"`
	Node           string `json:"node,omitempty"`
	CreateRevision int64  `json:"create_revision,omitempty"`
	ModRevision    int64  `json:"mod_revision,omitempty"`
	Version        int64  `json:"version,omitempty"`
}

// metadataFields are the fields metadata may hold, for decode errors.
var metadataFields = []string{"key", "node", "create_revision", "mod_revision", "version"}

// documentJSON is an entity as get prints it: kind, then metadata, then
// the value's own fields, so that apply -f takes it again unchanged.
func documentJSON(k *kind, env envelope) (json.RawMessage, error) {
	value, err := json.Marshal(env.Value)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", env.Key, err)
	}
	value = bytes.TrimSpace(value)
	if len(value) < 2 || value[0] != '{' {
		return nil, fmt.Errorf("encode %s: value is not a JSON object", env.Key)
	}
	meta := metadata{Key: env.Key, CreateRevision: env.CreateRevision, ModRevision: env.ModRevision, Version: env.Version}
	if k.perNode {
		meta.Node = nodeOfKey(env.Key)
	}
	head, err := json.Marshal(struct {
		Kind     string   `json:"kind"`
		Metadata metadata `json:"metadata"`
	}{k.name, meta})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", env.Key, err)
	}
	var b bytes.Buffer
	b.Write(head[:len(head)-1]) // without its closing brace
	if rest := bytes.TrimSpace(value[1:]); !bytes.Equal(rest, []byte("}")) {
		b.WriteByte(',')
		b.Write(rest)
	} else {
		b.WriteByte('}')
	}
	return b.Bytes(), nil
}

// nodeOfKey is the node segment of a pod key: ".../intent/<node>/<pod>".
func nodeOfKey(key string) string {
	parts := strings.Split(key, "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[len(parts)-2]
}

// printDocuments prints documents as indented JSON (one object, or an array
// when list is set) or as YAML (documents separated by "---"), keeping the
// order of their fields.
func (a *app) printDocuments(docs []json.RawMessage, list bool) error {
	if a.output == formatJSON {
		var v any = docs
		if !list && len(docs) == 1 {
			v = docs[0]
		}
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("encode output: %w", err)
		}
		_, err = fmt.Fprintf(a.stdout, "%s\n", data)
		return err
	}
	for i, d := range docs {
		if i > 0 {
			if _, err := fmt.Fprintln(a.stdout, "---"); err != nil {
				return err
			}
		}
		data, err := jsonToOrderedYAML(d)
		if err != nil {
			return fmt.Errorf("encode output: %w", err)
		}
		if _, err := a.stdout.Write(data); err != nil {
			return err
		}
	}
	return nil
}

// jsonToOrderedYAML converts a JSON document to block-style YAML with its
// fields in their JSON order.
func jsonToOrderedYAML(js []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(js, &n); err != nil {
		return nil, err
	}
	blockStyle(&n)
	annotateSignatures(&n)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// blockStyle clears the flow and quoting styles JSON gave the nodes; the
// encoder quotes any string that would read back as something else.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}
