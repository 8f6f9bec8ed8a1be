package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

func (a *app) editCommand() *cobra.Command {
	return verbCommand("edit", "Edit one entity in $EDITOR and apply it with compare-and-swap", a.editKind)
}

// editKind is "edit <kind> <id>": the entity's document (as get -o yaml
// prints it) opens in $EDITOR (default vi); when the editor exits, the
// file is applied with compare-and-swap on the revision read, so a change
// made meanwhile is a conflict, not lost. An unchanged file writes nothing.
func (a *app) editKind(k *kind) *cobra.Command {
	return &cobra.Command{
		Use:               k.use(true),
		Args:              cobra.ExactArgs(len(k.idArgs)),
		ValidArgsFunction: a.completeIDs(k),
		RunE: func(cmd *cobra.Command, ids []string) error {
			what := "edit " + display(k, ids)
			ctx, cancel := a.oneShot(cmd)
			r, err := a.resource(ctx, k)
			if err != nil {
				cancel()
				return err
			}
			cur, err := r.get(ctx, ids)
			cancel()
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			doc, err := documentJSON(k, cur.env)
			if err != nil {
				return err
			}
			before, err := jsonToOrderedYAML(doc)
			if err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "p2ctl-edit-")
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			defer os.RemoveAll(dir)
			file := filepath.Join(dir, strings.ReplaceAll(display(k, ids), "/", "-")+".yaml")
			if err := os.WriteFile(file, before, 0o600); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if err := a.runEditor(cmd, file); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			after, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if bytes.Equal(bytes.TrimSpace(after), bytes.TrimSpace(before)) {
				_, err := fmt.Fprintf(a.stdout, "%s: no changes; nothing written\n", display(k, ids))
				return err
			}
			items, err := a.readItems(what, k, file, "")
			if err != nil {
				return err
			}
			if len(items) != 1 {
				return fmt.Errorf("%s: the edited file holds %d documents, want 1", what, len(items))
			}
			it := items[0]
			if it.meta.ModRevision == 0 {
				it.meta.ModRevision = cur.env.ModRevision // metadata deleted: still compare-and-swap
			}
			if k.perNode && it.node == "" {
				it.node = ids[0]
			}
			ctx, cancel = a.oneShot(cmd)
			defer cancel()
			res, err := r.apply(ctx, it.value, it.node, it.meta.ModRevision)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if a.structured() {
				d, err := documentJSON(k, res.row.env)
				if err != nil {
					return err
				}
				return a.printDocuments([]json.RawMessage{d}, false)
			}
			_, err = fmt.Fprintf(a.stdout, "%s %s (revision %d)\n", res.row.env.Key, res.action, res.row.env.ModRevision)
			return err
		},
	}
}

// runEditor runs $EDITOR (which may carry arguments, "code -w") on file,
// with the terminal.
func (a *app) runEditor(cmd *cobra.Command, file string) error {
	editor := strings.Fields(os.Getenv("EDITOR"))
	if len(editor) == 0 {
		editor = []string{"vi"}
	}
	c := exec.CommandContext(cmd.Context(), editor[0], append(editor[1:], file)...)
	c.Stdin, c.Stdout, c.Stderr = a.stdin, a.stdout, a.stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("editor %s: %w", strings.Join(editor, " "), err)
	}
	return nil
}
