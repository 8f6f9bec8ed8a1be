package dashboard

import (
	"context"
	"fmt"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// view is what the layout renders around a page's own data.
type view struct {
	Page   string
	Title  string
	Base   string
	Writes bool
	User   string
	// Live: the page refreshes itself when the fleet changes.
	Live  bool
	Error string
	// Warnings name the records a page could not decode and left out.
	Warnings []string
	// Holds counts the failsafe holds in effect, for the banner on every
	// page.
	Holds int
	// Rev is the etcd revision read before the page's data: a change
	// after it makes the page refresh.
	Rev  int64
	Now  time.Time
	Data any
}

func (s *server) newView(name string) *view {
	return &view{Page: name, Base: s.cfg.base, Writes: s.cfg.writes, User: s.cfg.user, Live: name != "confirm", Now: time.Now()}
}

// warnInvalid adds a warning for each record that could not be decoded.
func (v *view) warnInvalid(bad []*kv.DecodeError) {
	for _, b := range bad {
		v.Warnings = append(v.Warnings, fmt.Sprintf("left out %s: %v", b.Key, b.Err))
	}
}

// banner counts the holds in effect, so that every page says so.
func (s *server) banner(ctx context.Context, v *view) {
	resp, err := s.cli.Get(ctx, failsafe.HoldKey(s.cfg.prefix, ""), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		s.log.Warn("dashboard: count holds", zap.Error(err))
		return
	}
	v.Holds, v.Rev = int(resp.Count), resp.Header.Revision
}
