package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// applyCommand is "apply -f FILE" (the file names each document's kind)
// and "apply <entity> -f FILE".
func (a *app) applyCommand() *cobra.Command {
	cmd := verbCommand("apply", "Create or update entities from a YAML or JSON file", a.applyKind)
	var file, node string
	cmd.Use = "apply [entity] -f FILE"
	cmd.Flags().StringVarP(&file, "filename", "f", "", "YAML or JSON file whose documents carry kind: (- for standard input)")
	cmd.Flags().StringVar(&node, "node", "", "node whose intent or reality a manifest without metadata.node is written to")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return unknownKind(args[0])
		}
		if file == "" {
			return errors.New("apply: -f FILE: required; name the entity (apply rc -f FILE) or give each document a kind:")
		}
		return a.applyFile(cmd, nil, file, node)
	}
	return cmd
}

// applyKind is "apply <kind> -f FILE": create when missing, otherwise
// update with compare-and-swap on the revision just read, or on the file's
// metadata.mod_revision when it has one.
func (a *app) applyKind(k *kind) *cobra.Command {
	var file, node string
	cmd := &cobra.Command{
		Use:  k.use(false) + " -f FILE",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.applyFile(cmd, k, file, node) },
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "YAML or JSON file of the "+k.name+" (- for standard input)")
	_ = cmd.MarkFlagRequired("filename")
	if k.perNode {
		cmd.Flags().StringVar(&node, "node", "", "node whose "+k.name+" the manifest is written to (required unless the file has metadata.node)")
	}
	return cmd
}

// applyFile applies every document of file, in order, after decoding them
// all: a bad document writes nothing.
func (a *app) applyFile(cmd *cobra.Command, k *kind, file, node string) error {
	verb := "apply"
	if k != nil {
		verb += " " + k.name
	}
	items, err := a.readItems(verb, k, file, node)
	if err != nil {
		return err
	}
	ctx, cancel := a.oneShot(cmd)
	defer cancel()
	var docs []json.RawMessage
	for _, it := range items {
		r, err := a.resource(ctx, it.kind)
		if err != nil {
			return err
		}
		res, err := r.apply(ctx, it.value, it.node, it.meta.ModRevision)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", verb, it.where(), err)
		}
		if a.structured() {
			d, err := documentJSON(it.kind, res.row.env)
			if err != nil {
				return err
			}
			docs = append(docs, d)
			continue
		}
		if _, err := fmt.Fprintf(a.stdout, "%s %s (revision %d)\n", res.row.env.Key, res.action, res.row.env.ModRevision); err != nil {
			return err
		}
	}
	if a.structured() {
		return a.printDocuments(docs, len(docs) > 1)
	}
	return nil
}

// fileItem is one decoded document, ready to apply.
type fileItem struct {
	kind  *kind
	value any
	node  string
	meta  metadata
	doc   *document
}

// where names the item's document for messages: "rc.yaml:3".
func (it *fileItem) where() string { return fmt.Sprintf("%s:%d", it.doc.file, it.doc.line) }

// readItems reads and decodes every document of file. k is the entity the
// command names (nil: each document names its own); node is --node.
func (a *app) readItems(verb string, k *kind, file, node string) ([]*fileItem, error) {
	data, err := a.readFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s -f %s: %w", verb, file, err)
	}
	name := file
	if name == "-" {
		name = "<stdin>"
	}
	docs, err := parseDocuments(name, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", verb, err)
	}
	items := make([]*fileItem, 0, len(docs))
	for _, d := range docs {
		it, err := resolveItem(k, d, node)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", verb, err)
		}
		items = append(items, it)
	}
	return items, nil
}

// resolveItem settles a document's kind and node and decodes its value.
func resolveItem(k *kind, d *document, node string) (*fileItem, error) {
	it := &fileItem{kind: k, meta: d.meta, doc: d}
	switch {
	case d.kind != nil && k != nil && d.kind != k:
		return nil, fmt.Errorf("%s: kind %q, but the command applies %s", it.where(), d.kind.name, k.name)
	case d.kind != nil:
		it.kind = d.kind
	case k == nil:
		return nil, fmt.Errorf("%s: no kind: give the document a kind: (one of %s) or name the entity (apply rc -f FILE)",
			it.where(), kindList())
	}
	if it.kind.perNode {
		switch {
		case node != "" && d.meta.Node != "" && node != d.meta.Node:
			return nil, fmt.Errorf("%s: metadata.node %q disagrees with --node %q", it.where(), d.meta.Node, node)
		case node != "":
			it.node = node
		case d.meta.Node != "":
			it.node = d.meta.Node
		default:
			return nil, fmt.Errorf("%s: %s: --node: required (or metadata.node in the file)", it.where(), it.kind.name)
		}
	}
	v, err := decodeDocument(it.kind, d)
	if err != nil {
		return nil, err
	}
	it.value = v
	return it, nil
}
