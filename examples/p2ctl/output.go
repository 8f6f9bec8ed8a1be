package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/p2kit/p2kit/kv"
	"sigs.k8s.io/yaml"
)

// Output formats of -o.
const (
	formatTable = "table"
	formatJSON  = "json"
	formatYAML  = "yaml"
)

// envelope is a stored object as -o json and -o yaml print it: its value
// with the key and revisions it was read at.
type envelope struct {
	Key            string `json:"key"`
	CreateRevision int64  `json:"create_revision,omitempty"`
	ModRevision    int64  `json:"mod_revision,omitempty"`
	Version        int64  `json:"version,omitempty"`
	Value          any    `json:"value"`
}

// envelopeOf wraps a typed object.
func envelopeOf[T any](o *kv.Object[T]) envelope {
	return envelope{Key: o.Key, CreateRevision: o.CreateRevision, ModRevision: o.ModRevision, Version: o.Version, Value: o.Value}
}

// structured reports whether -o asks for json or yaml.
func (a *app) structured() bool { return a.output != formatTable }

// printValue prints v as indented JSON or as YAML.
func (a *app) printValue(v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	if a.output == formatYAML {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return fmt.Errorf("encode output: %w", err)
		}
		_, err = a.stdout.Write(data)
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", data)
	return err
}

// printLine prints v as one line of compact JSON (for streams: watch,
// --follow), or as YAML followed by a document separator.
func (a *app) printLine(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	if a.output == formatYAML {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return fmt.Errorf("encode output: %w", err)
		}
		_, err = fmt.Fprintf(a.stdout, "%s---\n", data)
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", data)
	return err
}

// printTable prints rows under headers, aligned in columns.
func printTable(w io.Writer, headers []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(headers) > 0 {
		fmt.Fprintln(tw, strings.Join(headers, "\t"))
	}
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// warnInvalid reports stored values a listing could not decode, one line
// each, so that a bad value is never silently missing from a list.
func (a *app) warnInvalid(bad []*kv.DecodeError) {
	for _, e := range bad {
		fmt.Fprintf(a.stderr, "p2ctl: warning: %s\n", oneLine(e))
	}
}

// orDash returns s, or "-" when it is empty, for table cells.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// short returns the first n characters of s.
func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// cell formats a JSON value for a table: strings bare, anything else as
// compact JSON.
func cell(v any) string {
	if s, ok := v.(string); ok {
		return orDash(s)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}
