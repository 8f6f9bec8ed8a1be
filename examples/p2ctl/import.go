package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/p2kit/p2kit/p2import"
	"github.com/spf13/cobra"
)

// importCommand is "import p2 <file>": migrate a P2 tree into p2kit.
func (a *app) importCommand() *cobra.Command {
	imp := &cobra.Command{
		Use:   "import",
		Short: "Migrate another system's records into p2kit",
	}
	var dryRun, partial bool
	var chunk int
	p2 := &cobra.Command{
		Use:   "p2 <consul-kv-export.json>",
		Short: "Import a P2 tree from a Consul KV export (`consul kv export`; - reads stdin)",
		Long: "Reads a Consul KV export of a P2 tree (intent, reality, replication_controllers, daemon_sets,\n" +
			"rolls, pod_clusters, labels) and writes the same records in p2kit's form through the stores,\n" +
			"in chunked transactions, each record audited under --actor. Labels, intent and reality are\n" +
			"written before the controllers, and rolls after their RCs.\n\n" +
			"The report lists every entry that is not imported and why. P2's runtime state (lock, status,\n" +
			"health, audit_logs) is skipped. While any entry cannot be converted or is ambiguous (its key\n" +
			"and value disagree, or etcd holds another value at its key) nothing at all is written, unless\n" +
			"--partial is given; --dry-run then exits 1 too. Records etcd already holds unchanged are not\n" +
			"written again, so an import can be run again after a failure.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if chunk < 1 || chunk > p2import.DefaultChunkSize {
				return fmt.Errorf("import p2: --chunk-size %d: want 1 to %d", chunk, p2import.DefaultChunkSize)
			}
			entries, err := a.readExport(args[0])
			if err != nil {
				return err
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			cli, err := a.client(ctx)
			if err != nil {
				return err
			}
			im := p2import.New(cli, a.actor, p2import.WithPrefix(a.prefix), p2import.WithLogger(a.log),
				p2import.WithChunkSize(chunk))
			plan, err := im.Plan(ctx, entries)
			if err != nil {
				return fmt.Errorf("import p2 %s: %w", args[0], err)
			}
			blocking := len(plan.Blocking())
			if dryRun {
				if err := a.printImportPlan(plan); err != nil {
					return err
				}
				if blocking > 0 && !partial {
					return fmt.Errorf("import p2 %s: dry run: %d entries cannot be imported (see the report): the import would write nothing; --partial writes the rest",
						args[0], blocking)
				}
				return nil
			}
			if blocking > 0 && !partial {
				if err := a.printImportReport(plan); err != nil {
					return err
				}
				return fmt.Errorf("import p2 %s: %d entries cannot be imported (see the report); nothing written; --partial writes the rest",
					args[0], blocking)
			}
			res, err := im.Apply(ctx, plan, partial)
			if res != nil && len(res.Written) > 0 {
				fmt.Fprintf(a.stdout, "imported %d records: %s\n", len(res.Written), kindCounts(res.Written))
			}
			if err != nil {
				return fmt.Errorf("import p2 %s: %w", args[0], err)
			}
			if res.Unchanged > 0 {
				fmt.Fprintf(a.stdout, "%d records already in place\n", res.Unchanged)
			}
			return a.printImportReport(plan)
		},
	}
	f := p2.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "print what would be written, per kind and key, and the report; write nothing")
	f.BoolVar(&partial, "partial", false, "write every record that converts even when some entries cannot be imported")
	f.IntVar(&chunk, "chunk-size", p2import.DefaultChunkSize, fmt.Sprintf("records per transaction (at most %d)", p2import.DefaultChunkSize))
	imp.AddCommand(p2)
	return imp
}

// readExport reads the export file, or stdin for "-".
func (a *app) readExport(name string) ([]p2import.Entry, error) {
	var r io.Reader = a.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("import p2: %w", err)
		}
		defer f.Close()
		r = f
	}
	entries, err := p2import.ReadExport(r)
	if err != nil {
		return nil, fmt.Errorf("import p2 %s: %w", name, err)
	}
	return entries, nil
}

// importDoc is the plan as -o json and -o yaml print it.
type importDoc struct {
	Records  []p2import.Record  `json:"records"`
	Problems []p2import.Problem `json:"problems"`
}

// printImportPlan prints every record with what would be done with it, then
// the report.
func (a *app) printImportPlan(p *p2import.Plan) error {
	if a.structured() {
		return a.printValue(importDoc{Records: nonNil(p.Records), Problems: nonNil(p.Problems)})
	}
	rows := make([][]string, 0, len(p.Records))
	for _, r := range p.Records {
		rows = append(rows, []string{string(r.Action), string(r.Kind), r.ID, r.Key, r.Source})
	}
	if err := printTable(a.stdout, []string{"ACTION", "KIND", "ID", "KEY", "SOURCE"}, rows); err != nil {
		return err
	}
	var create, same []p2import.Record
	for _, r := range p.Records {
		if r.Action == p2import.Create {
			create = append(create, r)
		} else {
			same = append(same, r)
		}
	}
	fmt.Fprintf(a.stdout, "\nplan: %d to create (%s), %d already in place, %d not imported (%d blocking)\n",
		len(create), kindCounts(create), len(same), len(p.Problems), len(p.Blocking()))
	return a.printProblems(p)
}

// printImportReport prints the entries that are not imported, if any.
func (a *app) printImportReport(p *p2import.Plan) error {
	if a.structured() {
		return a.printValue(importDoc{Records: []p2import.Record{}, Problems: nonNil(p.Problems)})
	}
	return a.printProblems(p)
}

func (a *app) printProblems(p *p2import.Plan) error {
	if len(p.Problems) == 0 {
		return nil
	}
	fmt.Fprintln(a.stdout, "\nnot imported:")
	rows := make([][]string, 0, len(p.Problems))
	for _, pr := range p.Problems {
		rows = append(rows, []string{string(pr.Class), pr.Source, oneLine(errors.New(pr.Reason))})
	}
	return printTable(a.stdout, []string{"CLASS", "SOURCE", "REASON"}, rows)
}

// kindCounts is "2 replication_controllers, 8 intent, ..." in write order.
func kindCounts(recs []p2import.Record) string {
	n := map[p2import.Kind]int{}
	for _, r := range recs {
		n[r.Kind]++
	}
	var parts []string
	for _, k := range p2import.Kinds() {
		if n[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[k], k))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
