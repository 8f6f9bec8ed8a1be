package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// holdRow is a hold record and whether an operator released it already
// (the guard removes both keys once it delivers).
type holdRow struct {
	failsafe.Record
	Released   bool
	ReleasedBy string
	// ShownKeys are the first keys of the record; MoreKeys counts the rest
	// of the keys the hold holds back.
	ShownKeys []string
	MoreKeys  int
}

type holdsData struct {
	Rows  []holdRow
	Pager pager
	// Released names the hold just released from this dashboard.
	Released string
}

// maxKeysShown is how many held keys the holds table names per hold.
const maxKeysShown = 5

// listHolds reads the hold records and the releases not yet acted on. A
// record that cannot be decoded is reported and left out.
func (s *server) listHolds(ctx context.Context, v *view) ([]holdRow, error) {
	dir := failsafe.HoldKey(s.cfg.prefix, "")
	resp, err := s.cli.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("list holds %s: %w", dir, err)
	}
	rdir := failsafe.ReleaseKey(s.cfg.prefix, "")
	rel, err := s.cli.Get(ctx, rdir, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision))
	if err != nil {
		return nil, fmt.Errorf("list releases %s: %w", rdir, err)
	}
	released := make(map[string]string, len(rel.Kvs))
	for _, item := range rel.Kvs {
		var rr failsafe.ReleaseRecord
		_ = json.Unmarshal(item.Value, &rr) // who released is only shown
		released[strings.TrimPrefix(string(item.Key), rdir)] = rr.ReleasedBy
	}
	out := make([]holdRow, 0, len(resp.Kvs))
	var bad []*kv.DecodeError
	for _, item := range resp.Kvs {
		h, err := decodeHold(dir, item.Key, item.Value)
		if err != nil {
			bad = append(bad, &kv.DecodeError{Key: string(item.Key), Revision: item.ModRevision, Err: err})
			continue
		}
		h.ReleasedBy, h.Released = released[h.ID]
		out = append(out, *h)
	}
	v.warnInvalid(bad)
	return out, nil
}

func decodeHold(dir string, key, value []byte) (*holdRow, error) {
	var h holdRow
	if err := json.Unmarshal(value, &h.Record); err != nil {
		return nil, err
	}
	if h.ID == "" {
		h.ID = strings.TrimPrefix(string(key), dir)
	}
	h.ShownKeys = h.Keys[:min(maxKeysShown, len(h.Keys))]
	h.MoreKeys = max(h.Deletes+h.Creates+h.Mutates, len(h.Keys)) - len(h.ShownKeys)
	return &h, nil
}

func (s *server) holdsPage(ctx context.Context, r *http.Request, v *view) error {
	v.Title = "Failsafe holds"
	d := &holdsData{Released: r.URL.Query().Get("released")}
	v.Data = d
	rows, err := s.listHolds(ctx, v)
	if err != nil {
		return err
	}
	d.Pager = newPager(r, s.cfg.pageSize, len(rows), false)
	from, to := d.Pager.bounds(len(rows))
	d.Rows = rows[from:to]
	return nil
}

// getHold reads one hold: an httpError 404 when it is gone.
func (s *server) getHold(ctx context.Context, id string) (*holdRow, error) {
	if id == "" || strings.Contains(id, "/") {
		return nil, statusErr(http.StatusBadRequest, "hold id %q: %v", id, kv.ErrInvalidName)
	}
	key := failsafe.HoldKey(s.cfg.prefix, id)
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read hold %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, statusErr(http.StatusNotFound, "hold %s: no record at %s: it has ended or was released", id, key)
	}
	h, err := decodeHold(failsafe.HoldKey(s.cfg.prefix, ""), resp.Kvs[0].Key, resp.Kvs[0].Value)
	if err != nil {
		return nil, statusErr(http.StatusUnprocessableEntity, "hold %s: %s: %v", id, key, err)
	}
	return h, nil
}
