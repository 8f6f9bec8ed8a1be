package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"

	"github.com/p2kit/p2kit/labels"
	"github.com/spf13/cobra"
)

func (a *app) listCommand() *cobra.Command {
	cmd := verbCommand("list", "List every entity of a kind", a.listKind)
	cmd.AddCommand(a.listNodesCommand())
	return cmd
}

// listKind is "list <kind> [-l SELECTOR] [--watch]": a table, or with -o
// json|yaml the documents apply -f takes again (a JSON array, or YAML
// documents separated by "---"). Stored values that cannot be decoded are
// reported on stderr, one line each. -l keeps the entities whose label set
// (/p2/labels/<type>/<id>) matches; --watch prints the list, then one line
// per change until interrupted.
func (a *app) listKind(k *kind) *cobra.Command {
	var node, selector string
	var watch bool
	cmd := &cobra.Command{
		Use:  k.use(false),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sel, err := labels.Parse(selector)
			if err != nil {
				return fmt.Errorf("list %s: -l %q: %w", k.name, selector, err)
			}
			if watch {
				return a.listWatch(cmd, k, node, sel)
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			r, err := a.resource(ctx, k)
			if err != nil {
				return err
			}
			rows, bad, err := r.list(ctx, node)
			if err != nil {
				return fmt.Errorf("list %s: %w", k.name, err)
			}
			a.warnInvalid(bad)
			if rows, err = a.selectRows(ctx, k, sel, rows); err != nil {
				return fmt.Errorf("list %s: %w", k.name, err)
			}
			return a.printRows(ctx, k, r, rows)
		},
	}
	if k.perNode {
		cmd.Flags().StringVar(&node, "node", "", "only this node's pods")
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "only entities whose labels match this selector (env=prod,tier in (web,api))")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "after the list, print one line per change until interrupted")
	return cmd
}

// printRows prints rows as a table or as documents.
func (a *app) printRows(ctx context.Context, k *kind, r resource, rows []*row) error {
	if a.structured() {
		docs := make([]json.RawMessage, 0, len(rows))
		for _, row := range rows {
			d, err := documentJSON(k, row.env)
			if err != nil {
				return err
			}
			docs = append(docs, d)
		}
		return a.printDocuments(docs, true)
	}
	if err := a.addCounts(ctx, k, rows); err != nil {
		return fmt.Errorf("list %s: %w", k.name, err)
	}
	cells := make([][]string, 0, len(rows))
	for _, row := range rows {
		cells = append(cells, row.cells)
	}
	return printTable(a.stdout, r.headers(), cells)
}

// labelID is the id of the label set of the entity stored at key: its id,
// or "<node>/<pod-id>" for pod manifests.
func labelID(k *kind, key string) string {
	if k.perNode {
		return nodeOfKey(key) + "/" + path.Base(key)
	}
	return path.Base(key)
}

// selectRows keeps the rows whose label set matches sel; an empty selector
// keeps every row.
func (a *app) selectRows(ctx context.Context, k *kind, sel labels.Selector, rows []*row) ([]*row, error) {
	if sel.Empty() {
		return rows, nil
	}
	sets, err := a.labelSets(ctx, k)
	if err != nil {
		return nil, err
	}
	out := rows[:0]
	for _, r := range rows {
		if sel.Matches(sets[labelID(k, r.env.Key)]) {
			out = append(out, r)
		}
	}
	return out, nil
}

// labelSets reads every label set of k's label type, by id.
func (a *app) labelSets(ctx context.Context, k *kind) (map[string]labels.Set, error) {
	s, err := a.labelStore(ctx)
	if err != nil {
		return nil, err
	}
	l, err := s.List(ctx, k.labels)
	if err != nil {
		return nil, err
	}
	a.warnInvalid(l.Invalid)
	sets := make(map[string]labels.Set, len(l.Items))
	for _, o := range l.Items {
		sets[o.Name] = o.Value
	}
	return sets, nil
}

// listWatch is list --watch: the table of the initial listing, then one
// line per change (of entities the selector matches when the change is
// seen), until SIGINT or SIGTERM.
func (a *app) listWatch(cmd *cobra.Command, k *kind, node string, sel labels.Selector) error {
	ctx := cmd.Context()
	r, err := a.resource(ctx, k)
	if err != nil {
		return err
	}
	var initial []*row
	err = r.watch(ctx, node, func(c *change) error {
		switch {
		case c.Type == "initial":
			if c.row != nil {
				initial = append(initial, c.row)
			}
			return nil
		case c.Type == typeSynced:
			rows, err := a.selectRows(ctx, k, sel, initial)
			if err != nil {
				return err
			}
			initial = nil
			return a.printRows(ctx, k, r, rows)
		}
		if !sel.Empty() && c.row != nil {
			rows, err := a.selectRows(ctx, k, sel, []*row{c.row})
			if err != nil || len(rows) == 0 {
				return err
			}
		}
		return a.printChange(c)
	})
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // interrupted: a clean stop
	}
	if err != nil {
		return fmt.Errorf("list %s --watch: %w", k.name, err)
	}
	return nil
}
