package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// kindOfDocument returns the kind a document's kind: field names: p2ctl's
// names and aliases, and the usual spellings of each ("rc",
// "replication_controller", "ReplicationController", "daemon_sets").
func kindOfDocument(name string) (*kind, error) {
	if k, ok := findKind(name); ok {
		return k, nil
	}
	norm := normalizeKind(name)
	for _, k := range kinds {
		for _, n := range append([]string{k.name, k.dir}, k.aliases...) {
			if normalizeKind(n) == norm {
				return k, nil
			}
		}
	}
	return nil, fmt.Errorf("kind %q: want one of %s", name, kindList())
}

// normalizeKind folds case, underscores, dashes and a plural s.
func normalizeKind(s string) string {
	s = strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
	if s == "replicationcontroller" || s == "replicationcontrollers" {
		return "rc"
	}
	return strings.TrimSuffix(s, "s")
}

// decodeDocument decodes one document as an entity of kind k. Its errors
// name the file and line; an unknown field is reported with every other
// unknown field of the document and the nearest known field of each.
func decodeDocument(k *kind, d *document) (any, error) {
	v, err := k.decode(d.body)
	if err == nil {
		return v, nil
	}
	msg := plainError(err)
	if d.node != nil && strings.Contains(msg, "unknown field") && k.typ != nil {
		var unknown []string
		unknownFields(d.node, k.typ, "", func(path string, line int, near string) {
			unknown = append(unknown, fmt.Sprintf("%s:%d: unknown field %q%s", d.file, line, path, near))
		})
		if len(unknown) > 0 {
			return nil, errors.New(strings.Join(unknown, "; "))
		}
	}
	return nil, fmt.Errorf("%s:%d: %s", d.file, errorLine(err, msg, d), msg)
}

// plainError is err's message without encoding/json's "json: " prefixes:
// the file may well be YAML.
func plainError(err error) string {
	return strings.ReplaceAll(oneLine(err), "json: ", "")
}

// errorLine finds the line of the field an error names, or the document's
// first line.
func errorLine(err error, msg string, d *document) int {
	if d.node == nil {
		return d.line
	}
	var field string
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field = typeErr.Field
	} else if i := strings.Index(msg, ": "); i > 0 && !strings.ContainsAny(msg[:i], " \"") {
		field = msg[:i]
	}
	if n := lookup(d.node, field); n != nil {
		return n.Line
	}
	return d.line
}

// lookup finds the key node at a dotted path ("manifest.id") in a mapping.
func lookup(n *yaml.Node, path string) *yaml.Node {
	if path == "" {
		return nil
	}
	var found *yaml.Node
	for _, part := range strings.Split(path, ".") {
		if n == nil || n.Kind != yaml.MappingNode {
			return found
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				found, next = n.Content[i], n.Content[i+1]
				break
			}
		}
		if next == nil {
			return found
		}
		n = next
	}
	return found
}

// unknownFields walks a document against the Go type it decodes into and
// reports every key that is no JSON field of its struct, with its line and
// a "did you mean" of the nearest known field. Field names that differ
// from a known one only in case and underscores (P2's Go field names) are
// known.
func unknownFields(n *yaml.Node, t reflect.Type, path string, report func(path string, line int, near string)) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch t.Kind() {
	case reflect.Struct:
		fields := jsonFields(t)
		if n.Kind != yaml.MappingNode || len(fields) == 0 {
			return
		}
		names := sortedKeys(fields)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				if ft, ok = fields[foldedMatch(k.Value, names)]; !ok {
					report(join(k.Value), k.Line, didYouMean(k.Value, names))
					continue
				}
			}
			unknownFields(v, ft, join(k.Value), report)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			unknownFields(n.Content[i+1], t.Elem(), join(n.Content[i].Value), report)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			unknownFields(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), report)
		}
	}
}

// jsonFields maps the JSON names of a struct's fields, embedded ones
// included, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					out[k] = v
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// foldedMatch returns the known name equal to s but for case and
// underscores, or "".
func foldedMatch(s string, names []string) string {
	fold := func(x string) string { return strings.ToLower(strings.ReplaceAll(x, "_", "")) }
	for _, n := range names {
		if fold(n) == fold(s) {
			return n
		}
	}
	return ""
}

// didYouMean is ` (did you mean "x"?)` for the known name nearest to s,
// or "" when none is near.
func didYouMean(s string, names []string) string {
	best, bestD := "", -1
	for _, n := range names {
		d := editDistance(strings.ToLower(s), strings.ToLower(n))
		if bestD < 0 || d < bestD {
			best, bestD = n, d
		}
	}
	if bestD < 0 || bestD > max(2, len(s)/3) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
