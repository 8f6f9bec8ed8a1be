package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/term"
)

func (a *app) failsafeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "failsafe",
		Short: "List and release failsafe holds",
		Long: "A failsafe guard holds a watch batch that looks like a wipe or a mass delete: its consumer sees\n" +
			"nothing until the state recovers or an operator releases the hold, which delivers the held change.",
	}
	cmd.AddCommand(a.failsafeListCommand(), a.failsafeReleaseCommand())
	return cmd
}

// heldRecord is a hold record as p2ctl reads it, decoded on its own so
// that fields the guards add later (keys, creates, mutates, stage) show
// up without p2ctl depending on the failsafe package's Go type, and
// whether an operator has released it already (the guard removes both keys
// once it delivers).
type heldRecord struct {
	ID        string    `json:"id"`
	Component string    `json:"component"`
	Guard     string    `json:"guard"`
	Reason    string    `json:"reason"`
	Revision  int64     `json:"revision"`
	Deletes   int       `json:"deletes"`
	Creates   int       `json:"creates"`
	Mutates   int       `json:"mutates"`
	Total     int       `json:"total"`
	Stage     string    `json:"stage,omitempty"`
	Keys      []string  `json:"keys,omitempty"`
	Time      time.Time `json:"time"`
	Released  bool      `json:"released"`
}

// failsafeListCommand is "failsafe list".
func (a *app) failsafeListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the holds in effect and the keys each holds back",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			cli, err := a.client(ctx)
			if err != nil {
				return err
			}
			holds, err := a.listHolds(ctx, cli)
			if err != nil {
				return fmt.Errorf("failsafe list: %w", err)
			}
			if a.structured() {
				return a.printValue(holds)
			}
			rows := make([][]string, 0, len(holds))
			for _, h := range holds {
				rows = append(rows, []string{h.ID, h.Component, h.Guard, orDash(h.Stage), fmt.Sprintf("%d/%d", h.Deletes, h.Total),
					fmt.Sprint(h.Creates), fmt.Sprint(h.Mutates), fmt.Sprint(h.Revision), h.Time.Local().Format(time.DateTime),
					yesNo(h.Released), keyList(h, 3), h.Reason})
			}
			return printTable(a.stdout, []string{"ID", "COMPONENT", "GUARD", "STAGE", "DELETES", "CREATES", "MUTATES",
				"REVISION", "SINCE", "RELEASED", "KEYS", "REASON"}, rows)
		},
	}
}

// keyList names up to n of the keys a hold holds back: "a, b (+3 more)".
func keyList(h heldRecord, n int) string {
	if len(h.Keys) == 0 {
		return "-"
	}
	shown := h.Keys[:min(n, len(h.Keys))]
	s := strings.Join(shown, ", ")
	if more := max(h.Deletes+h.Creates+h.Mutates, len(h.Keys)) - len(shown); more > 0 {
		s += fmt.Sprintf(" (+%d more)", more)
	}
	return s
}

// listHolds reads the hold records and the releases not yet acted on. A
// record that cannot be decoded is reported on stderr and left out.
func (a *app) listHolds(ctx context.Context, cli *clientv3.Client) ([]heldRecord, error) {
	dir := failsafe.HoldKey(a.prefix, "")
	resp, err := cli.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("list holds %s: %w", dir, err)
	}
	rdir := failsafe.ReleaseKey(a.prefix, "")
	rel, err := cli.Get(ctx, rdir, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithRev(resp.Header.Revision))
	if err != nil {
		return nil, fmt.Errorf("list releases %s: %w", rdir, err)
	}
	released := make(map[string]bool, len(rel.Kvs))
	for _, item := range rel.Kvs {
		released[strings.TrimPrefix(string(item.Key), rdir)] = true
	}
	out := make([]heldRecord, 0, len(resp.Kvs))
	var bad []*kv.DecodeError
	for _, item := range resp.Kvs {
		var h heldRecord
		if err := json.Unmarshal(item.Value, &h); err != nil {
			bad = append(bad, &kv.DecodeError{Key: string(item.Key), Revision: item.ModRevision, Err: err})
			continue
		}
		if h.ID == "" {
			h.ID = strings.TrimPrefix(string(item.Key), dir)
		}
		h.Released = released[h.ID]
		out = append(out, h)
	}
	a.warnInvalid(bad)
	return out, nil
}

// failsafeReleaseCommand is "failsafe release <hold-id|id-prefix|component>".
func (a *app) failsafeReleaseCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "release <hold-id | id-prefix | component>",
		Short: "Release holds: each guard delivers the change it holds, as it stands",
		Long: "release takes a hold id, the start of one, or a component name (every hold of that component).\n" +
			"It prints what each hold will deliver, then asks for confirmation; without a terminal, --yes confirms.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			what := "failsafe release " + args[0]
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			cli, err := a.client(ctx)
			if err != nil {
				return err
			}
			holds, err := a.listHolds(ctx, cli)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			picked, err := pickHolds(holds, args[0])
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			for _, h := range picked {
				if _, err := fmt.Fprintf(a.stdout, "hold %s of %s (%s guard): delivers %d deletes, %d creates, %d mutates of %d keys: %s\n",
					h.ID, h.Component, h.Guard, h.Deletes, h.Creates, h.Mutates, h.Total, keyList(h, 10)); err != nil {
					return err
				}
			}
			if !yes {
				ok, err := a.confirm(fmt.Sprintf("release %d hold(s)? [y/N] ", len(picked)))
				if err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
				if !ok {
					return fmt.Errorf("%s: not confirmed; nothing released", what)
				}
			}
			for _, h := range picked {
				if err := a.releaseHold(ctx, cli, h); err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
				if _, err := fmt.Fprintf(a.stdout, "hold %s released by %s\n", h.ID, a.actor); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "release without asking (required when standard input is not a terminal)")
	return cmd
}

// pickHolds returns the hold with id arg, else the holds whose id starts
// with arg (one of them only), else every hold of component arg.
func pickHolds(holds []heldRecord, arg string) ([]heldRecord, error) {
	var byPrefix, byComponent []heldRecord
	for _, h := range holds {
		if h.ID == arg {
			return []heldRecord{h}, nil
		}
		if strings.HasPrefix(h.ID, arg) {
			byPrefix = append(byPrefix, h)
		}
		if h.Component == arg {
			byComponent = append(byComponent, h)
		}
	}
	switch {
	case len(byComponent) > 0:
		return byComponent, nil
	case len(byPrefix) == 1:
		return byPrefix, nil
	case len(byPrefix) > 1:
		return nil, fmt.Errorf("%q starts %d hold ids: give more of the id, or the component", arg, len(byPrefix))
	}
	return nil, fmt.Errorf("no hold has id, id prefix or component %q (%d holds in effect): %w", arg, len(holds), kv.ErrNotFound)
}

// confirm asks on the terminal; without one it refuses, so that a script
// never releases by accident.
func (a *app) confirm(prompt string) (bool, error) {
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, fmt.Errorf("standard input is not a terminal: give --yes to release")
	}
	if _, err := fmt.Fprint(a.stderr, prompt); err != nil {
		return false, err
	}
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return false, err
	}
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes", nil
}

// releaseHold writes the release key of a hold, only if its hold record
// still exists, and the audit record, in one transaction. A hold gone
// already is kv.ErrNotFound.
func (a *app) releaseHold(ctx context.Context, cli *clientv3.Client, h heldRecord) error {
	id := h.ID
	data, err := json.Marshal(failsafe.ReleaseRecord{ReleasedBy: a.actor, Time: time.Now().UTC().Truncate(time.Millisecond)})
	if err != nil {
		return err
	}
	rec, err := a.auditLog(cli).Op(audit.Released, failsafe.HoldKind, id, a.actor, h)
	if err != nil {
		return err
	}
	holdKey := failsafe.HoldKey(a.prefix, id)
	_, err = kv.Commit(ctx, cli, []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(holdKey), ">", 0)},
		clientv3.OpPut(failsafe.ReleaseKey(a.prefix, id), string(data)), rec)
	switch {
	case errors.Is(err, kv.ErrConflict):
		return fmt.Errorf("release hold %s: %s: %w", id, holdKey, kv.ErrNotFound)
	case err != nil:
		return fmt.Errorf("release hold %s: %w", id, err)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
