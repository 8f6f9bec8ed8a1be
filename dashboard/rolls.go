package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/roll"
	"github.com/p2kit/p2kit/status"
)

// rollRow is one roll: its spec when it still exists, and the farm's
// record of its progress (which outlives a finished roll).
type rollRow struct {
	ID      string
	OldRC   string
	NewRC   string
	Exists  bool
	Paused  bool
	Phase   string
	Message string
	// NewHealthy of Desired is the progress bar; Minimum is its line.
	NewHealthy int
	OldHealthy int
	Healthy    int
	Desired    int
	Minimum    int
	StartedAt  time.Time
	// Deadline is when the roll fails unless done; zero: none.
	Deadline time.Time
	Finished bool
}

type rollsData struct {
	Rows  []rollRow
	Pager pager
}

func (s *server) rollsPage(ctx context.Context, r *http.Request, v *view) error {
	v.Title = "Rolls"
	d := &rollsData{}
	v.Data = d
	ks := keyspace.WithPrefix(s.cfg.prefix)
	rolls, err := roll.NewStore(s.cli, ks).List(ctx)
	if err != nil {
		return fmt.Errorf("rolls: %w", err)
	}
	v.warnInvalid(rolls.Invalid)
	st, err := roll.NewStatusStore(s.cli, ks).List(ctx, status.Rolls)
	if err != nil {
		return fmt.Errorf("roll status: %w", err)
	}
	v.warnInvalid(st.Invalid)
	byID := map[string]*rollRow{}
	for _, o := range rolls.Items {
		x := o.Value
		byID[o.Name] = &rollRow{ID: o.Name, OldRC: x.OldRC, NewRC: x.NewRC, Exists: true, Paused: x.Paused,
			Phase: "waiting for the farm", Desired: x.DesiredReplicas, Minimum: x.MinimumReplicas}
	}
	for _, o := range st.Items {
		id := statusName(o.Name)
		x := o.Value
		row, ok := byID[id]
		if !ok {
			row = &rollRow{ID: id, OldRC: x.OldRC, NewRC: x.NewRC}
			byID[id] = row
		}
		row.Phase, row.Message, row.Finished = string(x.Phase), x.Message, x.Phase.Finished()
		row.NewHealthy, row.OldHealthy, row.Healthy = x.NewHealthy, x.OldHealthy, x.Healthy
		row.Desired, row.Minimum, row.StartedAt = x.DesiredReplicas, x.MinimumReplicas, x.StartedAt
	}
	for _, o := range rolls.Items {
		if row := byID[o.Name]; o.Value.Deadline > 0 && !row.StartedAt.IsZero() {
			row.Deadline = row.StartedAt.Add(time.Duration(o.Value.Deadline))
		}
	}
	rows := make([]rollRow, 0, len(byID))
	for _, row := range byID {
		rows = append(rows, *row)
	}
	// Rolls under way first, then the finished ones, newest first.
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Finished != rows[j].Finished {
			return !rows[i].Finished
		}
		if !rows[i].StartedAt.Equal(rows[j].StartedAt) {
			return rows[i].StartedAt.After(rows[j].StartedAt)
		}
		return rows[i].ID < rows[j].ID
	})
	d.Pager = newPager(r, s.cfg.pageSize, len(rows), false)
	from, to := d.Pager.bounds(len(rows))
	d.Rows = rows[from:to]
	return nil
}
