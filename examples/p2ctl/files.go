package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// document is one document of a file given to apply, diff or edit: its
// kind and metadata, taken out, and the rest, the entity's value.
type document struct {
	file string
	// line is where the document starts in the file.
	line int
	// kind is what its kind: field names; nil when it has none.
	kind *kind
	meta metadata
	// body is the document without kind and metadata, YAML or JSON.
	body []byte
	// node is the document's mapping without kind and metadata, for the
	// lines of decode errors; nil for a clear-signed manifest.
	node *yaml.Node
}

// parseDocuments splits a file into its documents (YAML separated by
// "---", a JSON object, or a JSON array of objects) and takes out each
// one's kind and metadata. Errors name the file and line.
func parseDocuments(file string, data []byte) ([]*document, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%s: empty file", file)
	}
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP SIGNED MESSAGE")) {
		return []*document{{file: file, line: 1, body: data}}, nil
	}
	var nodes []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: invalid YAML: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if len(n.Content) == 0 {
			continue // an empty document: "---" at the end
		}
		root := n.Content[0]
		if root.Kind == yaml.SequenceNode && trimmed[0] == '[' {
			nodes = append(nodes, root.Content...) // a JSON array of documents
			continue
		}
		nodes = append(nodes, root)
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%s: empty file", file)
	}
	docs := make([]*document, 0, len(nodes))
	for _, n := range nodes {
		d, err := splitDocument(file, n)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	// One document with neither kind nor metadata is applied as written,
	// byte for byte.
	if len(docs) == 1 && !hasKey(nodes[0], "kind", "metadata") {
		docs[0].body = data
	}
	return docs, nil
}

// splitDocument takes kind and metadata out of one document's mapping.
func splitDocument(file string, n *yaml.Node) (*document, error) {
	d := &document{file: file, line: n.Line, node: n}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping of fields, found %s", file, n.Line, nodeKind(n))
	}
	body := &yaml.Node{Kind: yaml.MappingNode, Tag: n.Tag, Style: n.Style, Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "kind":
			kd, err := kindOfDocument(v.Value)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", file, v.Line, err)
			}
			d.kind = kd
		case "metadata":
			if err := decodeMetadata(file, v, &d.meta); err != nil {
				return nil, err
			}
		default:
			body.Content = append(body.Content, k, v)
		}
	}
	out, err := yaml.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: %w", file, n.Line, err)
	}
	d.body, d.node = out, body
	return d, nil
}

// decodeMetadata reads a document's metadata, refusing fields it does not
// know.
func decodeMetadata(file string, n *yaml.Node, m *metadata) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: metadata: want a mapping, found %s", file, n.Line, nodeKind(n))
	}
	var errs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !contains(metadataFields, k.Value) {
			errs = append(errs, fmt.Sprintf("%s:%d: unknown field \"metadata.%s\"%s", file, k.Line, k.Value,
				didYouMean(k.Value, metadataFields)))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	var raw map[string]any
	if err := n.Decode(&raw); err != nil {
		return fmt.Errorf("%s:%d: metadata: %s", file, n.Line, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	js, err := json.Marshal(raw)
	if err == nil {
		err = json.Unmarshal(js, m)
	}
	if err != nil {
		return fmt.Errorf("%s:%d: metadata: %s", file, n.Line, strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// hasKey reports whether mapping n has one of keys.
func hasKey(n *yaml.Node, keys ...string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if contains(keys, n.Content[i].Value) {
			return true
		}
	}
	return false
}

// nodeKind names what a YAML node is, for errors.
func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	default:
		return "something else"
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
