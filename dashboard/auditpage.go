package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
)

type auditData struct {
	Entity string
	ID     string
	Actor  string
	Rows   []audit.Record
	Pager  pager
}

func (s *server) auditPage(ctx context.Context, r *http.Request, v *view) error {
	v.Title = "Audit log"
	q := r.URL.Query()
	d := &auditData{Entity: strings.TrimSpace(q.Get("entity")), ID: strings.TrimSpace(q.Get("id")), Actor: strings.TrimSpace(q.Get("actor"))}
	v.Data = d
	page := pageParam(r)
	size := s.cfg.pageSize
	skip := (page - 1) * size
	recs, err := s.recentAudit(ctx, skip+size+1, d.Entity, d.ID, d.Actor)
	if err != nil {
		return err
	}
	v.warnInvalid(recs.Invalid)
	items := recs.Items[min(skip, len(recs.Items)):]
	more := len(items) > size
	for _, o := range items[:min(size, len(items))] {
		d.Rows = append(d.Rows, o.Value)
	}
	d.Pager = newPager(r, size, -1, more)
	if len(d.Rows) == 0 {
		d.Pager.From = 0
	} else {
		d.Pager.To = d.Pager.From + len(d.Rows) - 1
	}
	return nil
}

// recentAudit reads the newest n records that match the filters (empty:
// any), newest first.
func (s *server) recentAudit(ctx context.Context, n int, entity, id, actor string) (*kv.Listing[audit.Record], error) {
	keep := func(rec *audit.Record) bool {
		return (entity == "" || rec.Entity == entity) && (id == "" || rec.ID == id) &&
			(actor == "" || rec.Actor == actor)
	}
	l, err := audit.NewLog(s.cli, keyspace.WithPrefix(s.cfg.prefix)).Recent(ctx, n, keep)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return l, nil
}
