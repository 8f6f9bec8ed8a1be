package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	"github.com/p2kit/p2kit/status"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/term"
)

// rollFarmNamespace is the namespace of the roll farm's status records:
// <prefix>/status/rolls/<id>/roll-farm.
const rollFarmNamespace = "roll-farm"

func (a *app) rollCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "roll", Short: "Start, follow, pause, resume, abort and undo rolling updates"}
	cmd.AddCommand(a.rollStartCommand(), a.rollStatusCommand(), a.rollPauseCommand(true), a.rollPauseCommand(false),
		a.rollAbortCommand(), a.rollUndoCommand())
	return cmd
}

// rollStartCommand is "roll start <new-rc> --from <old-rc> --desired N
// --minimum M": it creates the roll, whose id is the new RC's by convention.
func (a *app) rollStartCommand() *cobra.Command {
	var r roll.Roll
	var delay, deadline time.Duration
	var force bool
	cmd := &cobra.Command{
		Use:   "start <new-rc-id> --from <old-rc-id> --desired N --minimum M",
		Short: "Roll from one RC to another: the roll's id is the new RC's",
		Long: "Roll from one RC to another: the roll's id is the new RC's. A roll that cannot make progress " +
			"on the fleet as it stands (no node for the new RC, fewer nodes than --desired, a --minimum " +
			"that leaves no room to move) is refused with the reason; --force starts it anyway.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r.ID, r.NewRC = args[0], args[0]
			r.RollDelay, r.Deadline = roll.Duration(delay), roll.Duration(deadline)
			what := "roll start " + r.ID
			if err := r.Validate(); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			cli, err := a.client(ctx)
			if err != nil {
				return err
			}
			obj, err := a.startRoll(ctx, roll.NewStore(cli, keyspace.WithPrefix(a.prefix)), &r, force)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return a.printStarted(obj)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&force, "force", false, "start the roll even when it cannot make progress as the fleet stands")
	f.StringVar(&r.OldRC, "from", "", "the RC to roll from (required)")
	f.IntVar(&r.DesiredReplicas, "desired", 0, "replicas the new RC ends with (required)")
	f.IntVar(&r.MinimumReplicas, "minimum", 0, "replicas, old and new together, that must stay healthy (required)")
	f.BoolVar(&r.LeaveOld, "leave-old", false, "keep the old RC, scaled to 0, when the roll completes")
	f.DurationVar(&delay, "roll-delay", 0, "pause between steps")
	f.DurationVar(&deadline, "deadline", 0, "how long the roll may take from now (0: no deadline)")
	for _, name := range []string{"from", "desired", "minimum"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// startRoll creates r, refused with the reason when it cannot make
// progress unless force.
func (a *app) startRoll(ctx context.Context, s *roll.Store, r *roll.Roll, force bool) (*roll.Object, error) {
	if !force {
		if err := s.Check(ctx, r); errors.Is(err, roll.ErrCannotProgress) {
			return nil, fmt.Errorf("%w (--force starts it anyway)", err)
		} else if err != nil {
			return nil, err
		}
	}
	return s.Create(ctx, a.actor, r)
}

// printStarted says that a roll was created.
func (a *app) printStarted(obj *roll.Object) error {
	if a.structured() {
		return a.printValue(envelopeOf(obj))
	}
	r := obj.Value
	_, err := fmt.Fprintf(a.stdout, "roll/%s started: %s -> %s, %d desired, %d minimum (revision %d)\n",
		r.ID, r.OldRC, r.NewRC, r.DesiredReplicas, r.MinimumReplicas, obj.ModRevision)
	return err
}

// rollSide is one RC of a roll: how many replicas it asks for, on how many
// nodes its manifest is intended, and how many of those the preparer
// reports launched and passing.
type rollSide struct {
	RC        string `json:"rc"`
	Exists    bool   `json:"exists"`
	Replicas  int    `json:"replicas"`
	Scheduled int    `json:"scheduled"`
	Healthy   int    `json:"healthy"`
}

// rollReport is what roll status shows.
type rollReport struct {
	ID string `json:"id"`
	// Roll is nil once the roll is deleted.
	Roll *roll.Roll `json:"roll,omitempty"`
	Old  *rollSide  `json:"old,omitempty"`
	New  *rollSide  `json:"new,omitempty"`
	// Status is the roll farm's record, read as generic JSON.
	Status map[string]any `json:"status,omitempty"`
	Phase  string         `json:"phase,omitempty"`
}

// rollReader reads the stores a roll's report comes from.
type rollReader struct {
	rolls   *roll.Store
	rcs     *rc.Store
	intent  *intent.Store
	pods    *status.PodStatusStore
	records *status.Store[map[string]any]
}

func newRollReader(a *app, cli *clientv3.Client) (*rollReader, error) {
	records, err := status.NewStore[map[string]any](cli, rollFarmNamespace, keyspace.WithPrefix(a.prefix))
	if err != nil {
		return nil, err
	}
	return &rollReader{
		rolls:   roll.NewStore(cli, keyspace.WithPrefix(a.prefix)),
		rcs:     rc.NewStore(cli, keyspace.WithPrefix(a.prefix)),
		intent:  intent.NewStore(cli, keyspace.WithPrefix(a.prefix)),
		pods:    status.NewPodStatusStore(cli, keyspace.WithPrefix(a.prefix)),
		records: records,
	}, nil
}

// read builds the report of roll id. A roll that is gone but has a status
// record is reported from the record.
func (rr *rollReader) read(ctx context.Context, id string) (*rollReport, error) {
	rep := &rollReport{ID: id}
	obj, err := rr.rolls.Get(ctx, id)
	switch {
	case err == nil:
		rep.Roll = &obj.Value
	case !kvNotFound(err):
		return nil, err
	}
	rec, err := rr.records.Get(ctx, status.Rolls, id)
	switch {
	case err == nil:
		// A record of an earlier roll of the same id says nothing of
		// this one.
		if rev, ok := intField(rec.Value, "roll_revision"); obj != nil && ok && int64(rev) != obj.CreateRevision {
			break
		}
		rep.Status = rec.Value
		rep.Phase = stringField(rec.Value, "phase", "state")
	case !kvNotFound(err):
		return nil, err
	}
	if rep.Roll == nil && rep.Status == nil {
		key, _ := rr.rolls.Key(id)
		return nil, fmt.Errorf("%s: %w (and no roll farm status)", key, kv.ErrNotFound)
	}
	oldID, newID := stringField(rep.Status, "old_rc"), stringField(rep.Status, "new_rc")
	if rep.Roll != nil {
		oldID, newID = rep.Roll.OldRC, rep.Roll.NewRC
	}
	if oldID == "" || newID == "" {
		return rep, nil
	}
	sides, err := rr.sides(ctx, oldID, newID)
	if err != nil {
		return nil, err
	}
	rep.Old, rep.New = sides[0], sides[1]
	return rep, nil
}

// sides counts the replicas, scheduled and healthy nodes of each RC. A node
// counts for an RC when its intent holds the RC's manifest (same digest),
// and as healthy when the preparer's record of that manifest says launched
// and passing.
func (rr *rollReader) sides(ctx context.Context, ids ...string) ([]*rollSide, error) {
	intents, err := rr.intent.ListAll(ctx)
	if err != nil {
		return nil, err
	}
	records, err := rr.pods.List(ctx)
	if err != nil {
		return nil, err
	}
	health := make(map[string]status.PodStatus, len(records.Items))
	for _, o := range records.Items {
		health[strings.TrimSuffix(o.Name, "/"+status.PreparerNamespace)] = o.Value
	}
	digests := make(map[string]string, len(intents.Items)) // intent name -> digest
	for _, o := range intents.Items {
		digests[o.Name] = digestOf(&o.Value)
	}
	out := make([]*rollSide, 0, len(ids))
	for _, id := range ids {
		side := &rollSide{RC: id}
		out = append(out, side)
		r, err := rr.rcs.Get(ctx, id)
		if kvNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		side.Exists, side.Replicas = true, r.Value.ReplicasDesired
		want := digestOf(&r.Value.Manifest)
		for _, o := range intents.Items {
			if o.Value.ID != r.Value.Manifest.ID || digests[o.Name] != want {
				continue
			}
			side.Scheduled++
			if h, ok := health[o.Name]; ok && h.Status == status.Launched && h.Health == status.Passing && h.ManifestDigest == want {
				side.Healthy++
			}
		}
	}
	return out, nil
}

func digestOf(m *manifest.Manifest) string {
	d, err := m.Digest()
	if err != nil {
		return ""
	}
	return d
}

// stringField returns the first of keys that m holds as a string.
func stringField(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := m[k].(string); ok {
			return s
		}
	}
	return ""
}

// intField returns m[key] as an int when it is a JSON number.
func intField(m map[string]any, key string) (int, bool) {
	f, ok := m[key].(float64)
	return int(f), ok
}

// outcome says whether a followed roll is over: nil error for success.
// desired is the last desired replica count seen, for a roll the farm
// removed when it finished.
func (rep *rollReport) outcome(desired int) (bool, error) {
	switch strings.ToLower(rep.Phase) {
	case "done", "complete", "completed":
		return true, nil
	case "failed", "halted":
		msg := stringField(rep.Status, "message", "error")
		return true, fmt.Errorf("roll %s %s: %s", rep.ID, strings.ToLower(rep.Phase), orDash(msg))
	}
	if rep.Roll != nil {
		return false, nil
	}
	if rep.New != nil && rep.New.Exists && rep.New.Replicas >= desired && (rep.Old == nil || !rep.Old.Exists || rep.Old.Replicas == 0) {
		return true, nil
	}
	return true, fmt.Errorf("roll %s deleted before it finished: halted where it was", rep.ID)
}

// rollStatusCommand is "roll status <id> [--follow]".
func (a *app) rollStatusCommand() *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "status <id>",
		Short: "Show a roll's old, new and healthy counts and its farm status; --follow until it ends",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			ctx, cancel := cmd.Context(), context.CancelFunc(func() {})
			if !follow {
				ctx, cancel = a.oneShot(cmd)
			}
			defer cancel()
			cli, err := a.client(ctx)
			if err != nil {
				return err
			}
			rr, err := newRollReader(a, cli)
			if err != nil {
				return fmt.Errorf("roll status %s: %w", id, err)
			}
			if follow {
				return a.followRoll(ctx, cli, rr, id)
			}
			rep, err := rr.read(ctx, id)
			if err != nil {
				return fmt.Errorf("roll status %s: %w", id, err)
			}
			return a.printRollReport(rep)
		},
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "watch the roll and show its progress until it is done, fails or halts")
	return cmd
}

// printRollReport prints one report as FIELD VALUE rows or as a document.
func (a *app) printRollReport(rep *rollReport) error {
	if a.structured() {
		return a.printValue(rep)
	}
	rows := [][]string{{"ROLL", rep.ID}}
	if r := rep.Roll; r != nil {
		rows = append(rows, []string{"DESIRED", fmt.Sprintf("%d (minimum %d)", r.DesiredReplicas, r.MinimumReplicas)})
	} else {
		rows[0][1] += " (deleted)"
	}
	for _, s := range []struct {
		label string
		side  *rollSide
	}{{"OLD", rep.Old}, {"NEW", rep.New}} {
		if s.side != nil {
			rows = append(rows, []string{s.label, sideText(s.side)})
		}
	}
	for _, k := range statusOrder(rep.Status) {
		rows = append(rows, []string{strings.ToUpper(k), cell(rep.Status[k])})
	}
	return printTable(a.stdout, nil, rows)
}

// statusOrder lists a status record's fields: phase and message first,
// then the rest in key order.
func statusOrder(m map[string]any) []string {
	var keys []string
	for _, k := range []string{"phase", "message"} {
		if _, ok := m[k]; ok {
			keys = append(keys, k)
		}
	}
	for _, k := range sortedKeys(m) {
		if k != "phase" && k != "message" {
			keys = append(keys, k)
		}
	}
	return keys
}

func sideText(s *rollSide) string {
	if !s.Exists {
		return s.RC + ": (no such RC)"
	}
	return fmt.Sprintf("%s: %d replicas, %d scheduled, %d healthy", s.RC, s.Replicas, s.Scheduled, s.Healthy)
}

// followRoll redraws the roll's progress on every change of the keys it
// depends on, until the roll ends or ctx does (SIGINT: a clean stop).
func (a *app) followRoll(ctx context.Context, cli *clientv3.Client, rr *rollReader, id string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changed, err := a.watchRoll(ctx, cli, id)
	if err != nil {
		return fmt.Errorf("roll status %s: %w", id, err)
	}
	p := &rollProgress{a: a}
	defer p.close()
	desired := 0
	for {
		rep, err := rr.read(ctx, id)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("roll status %s: %w", id, err)
		}
		if rep.Roll != nil {
			desired = rep.Roll.DesiredReplicas
		} else if n, ok := intField(rep.Status, "desired_replicas"); ok {
			desired = n
		}
		if err := p.show(rep, desired); err != nil {
			return err
		}
		if done, err := rep.outcome(desired); done {
			p.close()
			if err == nil && !a.structured() {
				fmt.Fprintf(a.stdout, "roll %s done\n", id)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

// watchRoll signals on the returned channel whenever a key a roll's report
// reads changes. The watch is established before it returns, so no change
// after the first read is missed.
func (a *app) watchRoll(ctx context.Context, cli *clientv3.Client, id string) (<-chan struct{}, error) {
	watched := []string{
		a.prefix + "/rolls/" + id,
		a.prefix + "/replication_controllers/",
		a.prefix + "/status/rolls/" + id + "/",
		a.prefix + "/intent/",
		a.prefix + "/status/pods/",
	}
	wch := cli.Watch(ctx, a.prefix+"/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	select {
	case resp, ok := <-wch:
		if !ok {
			return nil, ctx.Err()
		}
		if err := resp.Err(); err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	changed := make(chan struct{}, 1)
	go func() {
		for resp := range wch {
			if relevant(resp.Events, watched, a.prefix+"/rolls/"+id) {
				select {
				case changed <- struct{}{}:
				default:
				}
			}
		}
	}()
	return changed, nil
}

// relevant reports whether an event touches one of the watched prefixes
// (or the exact key exact).
func relevant(events []*clientv3.Event, prefixes []string, exact string) bool {
	for _, ev := range events {
		key := string(ev.Kv.Key)
		if key == exact {
			return true
		}
		for _, p := range prefixes {
			if strings.HasSuffix(p, "/") && strings.HasPrefix(key, p) {
				return true
			}
		}
	}
	return false
}

// rollProgress renders a followed roll: on a terminal a progress bar of
// the new RC's healthy nodes out of the desired count; otherwise one line
// per change; with -o json|yaml one document per change.
type rollProgress struct {
	a    *app
	bar  *progressbar.ProgressBar
	last string // the last line printed without a terminal
}

func (p *rollProgress) show(rep *rollReport, desired int) error {
	if p.a.structured() {
		return p.a.printLine(rep)
	}
	if !isTerminal(p.a.stdout) {
		line := p.line(rep, desired)
		if line == p.last {
			return nil
		}
		p.last = line
		_, err := fmt.Fprintln(p.a.stdout, line)
		return err
	}
	healthy, old := 0, 0
	if rep.New != nil {
		healthy = rep.New.Healthy
	}
	if n, ok := intField(rep.Status, "new_healthy"); ok {
		healthy = n // the farm's own count wins
	}
	if rep.Old != nil {
		old = rep.Old.Replicas
	}
	desc := fmt.Sprintf("roll %s: new healthy %d/%d, old replicas %d, %s", rep.ID, healthy, desired, old, orDash(rep.Phase))
	total := max(desired, 1)
	if p.bar == nil {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(p.a.stdout),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	if p.bar.GetMax() != total {
		p.bar.ChangeMax(total)
	}
	p.bar.Describe(desc)
	if err := p.bar.Set(min(healthy, total)); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// line is one change of a followed roll, for a pipe or a file.
func (p *rollProgress) line(rep *rollReport, desired int) string {
	healthy, old := 0, 0
	if rep.New != nil {
		healthy = rep.New.Healthy
	}
	if n, ok := intField(rep.Status, "new_healthy"); ok {
		healthy = n
	}
	if rep.Old != nil {
		old = rep.Old.Replicas
	}
	line := fmt.Sprintf("roll %s: %s, new healthy %d/%d, old replicas %d", rep.ID, orDash(rep.Phase), healthy, desired, old)
	if msg := stringField(rep.Status, "message"); msg != "" {
		line += ": " + msg
	}
	return line
}

// isTerminal reports whether w is a terminal: the progress bar is drawn
// only there.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// close ends the bar's line.
func (p *rollProgress) close() {
	if p.bar != nil {
		_ = p.bar.Exit()
		fmt.Fprintln(p.a.stdout)
		p.bar = nil
	}
}
