package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// confirmData is the confirmation page of a release: what the hold
// delivers once released.
type confirmData struct {
	Hold  *holdRow
	Token string
}

func (s *server) confirmPage(ctx context.Context, r *http.Request, v *view) error {
	id := r.PathValue("id")
	v.Title = "Release hold " + id
	if !s.cfg.writes {
		return statusErr(http.StatusForbidden, "writes are off: start the dashboard with --allow-writes to release holds")
	}
	h, err := s.getHold(ctx, id)
	if err != nil {
		return err
	}
	h.ShownKeys = h.Keys
	h.MoreKeys = max(h.Deletes+h.Creates+h.Mutates, len(h.Keys)) - len(h.Keys)
	v.Data = &confirmData{Hold: h, Token: s.csrfToken("release", id)}
	return nil
}

// release handles the confirmed form: with writes on and a good token, it
// writes the hold's release key and its audit record in one transaction,
// as "p2ctl failsafe release" does, then shows the holds page.
func (s *server) release(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.cfg.writes {
		http.Error(w, "writes are off: start the dashboard with --allow-writes to release holds", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if !s.checkCSRF(r, "release", id) {
		s.log.Warn("dashboard: release refused: bad or missing csrf token", zap.String("hold", id), zap.String("remote", r.RemoteAddr))
		http.Error(w, "release refused: the form's CSRF token is missing or wrong; release from the hold's confirmation page", http.StatusForbidden)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	err := s.releaseHold(ctx, id)
	if err != nil {
		code := http.StatusInternalServerError
		var he *httpError
		switch {
		case errors.As(err, &he):
			code = he.code
		case errors.Is(err, kv.ErrNotFound):
			code = http.StatusNotFound
		case errors.Is(err, rpctypes.ErrPermissionDenied):
			code = http.StatusForbidden // the etcd user's role may not release
		}
		s.log.Error("dashboard: release", zap.String("hold", id), zap.String("user", s.cfg.user), zap.Error(err))
		v := s.newView("confirm")
		v.Title, v.Error = "Release hold "+id, err.Error()
		s.render(w, code, "confirm", v)
		return
	}
	s.log.Info("dashboard: hold released", zap.String("hold", id), zap.String("user", s.cfg.user))
	http.Redirect(w, r, s.cfg.base+"holds?released="+url.QueryEscape(id), http.StatusSeeOther)
}

// releaseHold writes the release key of a hold, only if its record still
// exists, with the audit record naming the user, in one transaction.
func (s *server) releaseHold(ctx context.Context, id string) error {
	h, err := s.getHold(ctx, id)
	if err != nil {
		return err
	}
	cmp, put, err := failsafe.ReleaseOp(s.cfg.prefix, id, s.cfg.user)
	if err != nil {
		return err
	}
	rec, err := audit.NewLog(s.cli, keyspace.WithPrefix(s.cfg.prefix)).Op(audit.Released, failsafe.HoldKind, id, s.cfg.user, h.Record)
	if err != nil {
		return fmt.Errorf("release hold %s: audit: %w", id, err)
	}
	_, err = kv.Commit(ctx, s.cli, []clientv3.Cmp{cmp}, put, rec)
	switch {
	case errors.Is(err, kv.ErrConflict):
		return fmt.Errorf("release hold %s: %s: %w", id, failsafe.HoldKey(s.cfg.prefix, id), kv.ErrNotFound)
	case err != nil:
		return fmt.Errorf("release hold %s as %s: %w", id, s.cfg.user, err)
	}
	return nil
}
