package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// diffCommand is "diff [entity] -f FILE": what apply -f would change, as
// unified-style lines per entity. It exits 0 when nothing would change,
// and 1 when something would.
func (a *app) diffCommand() *cobra.Command {
	var file, node string
	cmd := &cobra.Command{
		Use:               "diff [entity] -f FILE",
		Short:             "Show what apply -f would change; exit 0 when nothing",
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			var k *kind
			if len(args) == 1 {
				var ok bool
				if k, ok = findKind(args[0]); !ok {
					return unknownKind(args[0])
				}
			}
			if file == "" {
				return fmt.Errorf("diff: -f FILE: required")
			}
			verb := "diff"
			if k != nil {
				verb += " " + k.name
			}
			items, err := a.readItems(verb, k, file, node)
			if err != nil {
				return err
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			changed := 0
			for _, it := range items {
				r, err := a.resource(ctx, it.kind)
				if err != nil {
					return err
				}
				ids, err := r.ids(it.value, it.node)
				if err != nil {
					return fmt.Errorf("%s: %s: %w", verb, it.where(), err)
				}
				var before []string
				from := "(none: apply creates it)"
				cur, err := r.get(ctx, ids)
				switch {
				case kvNotFound(err):
				case err != nil:
					return fmt.Errorf("%s: %s: %w", verb, it.where(), err)
				default:
					if before, err = yamlLines(cur.env.Value); err != nil {
						return err
					}
					from = fmt.Sprintf("%s (revision %d)", cur.env.Key, cur.env.ModRevision)
				}
				after, err := yamlLines(it.value)
				if err != nil {
					return err
				}
				lines := diffLines(before, after)
				if lines == nil {
					continue
				}
				changed++
				fmt.Fprintf(a.stdout, "--- %s\n+++ %s\n%s", from, it.where(), strings.Join(lines, ""))
			}
			if changed > 0 {
				return fmt.Errorf("%s: %d of %d entities would change", verb, changed, len(items))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "YAML or JSON file, as apply -f takes it (- for standard input)")
	cmd.Flags().StringVar(&node, "node", "", "node of pod manifests without metadata.node")
	return cmd
}

// yamlLines renders a value as YAML lines, fields in JSON order.
func yamlLines(v any) ([]string, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	y, err := jsonToOrderedYAML(js)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSuffix(string(y), "\n"), "\n")
	for i := range lines {
		lines[i] += "\n"
	}
	return lines, nil
}

// diffLines returns a's and b's lines marked " ", "-" or "+" (from their
// longest common subsequence), or nil when they are equal.
func diffLines(a, b []string) []string {
	if strings.Join(a, "") == strings.Join(b, "") {
		return nil
	}
	// lcs[i][j] is the length of the LCS of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out = append(out, " "+a[i])
			i++
			j++
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "-"+a[i])
			i++
		default:
			out = append(out, "+"+b[j])
			j++
		}
	}
	return out
}
