package dashboard

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ErrNoUser is returned by New when writes are allowed but no user is
// named, neither by AllowWrites nor by the client's own authentication:
// every release must be audited with a person's name.
var ErrNoUser = errors.New("dashboard: writes need a user name (AllowWrites(user) or a client that authenticates as a user)")

// readTimeout bounds the etcd reads of one page.
const readTimeout = 10 * time.Second

// server is the dashboard's http.Handler.
type server struct {
	cli  *clientv3.Client
	cfg  config
	log  *zap.Logger
	mux  *http.ServeMux
	tmpl *templates
	hub  *hub
}

// New returns the dashboard as an http.Handler reading the fleet through
// client. Mount it at the path given by WithBasePath (default "/"). It
// fails when writes are allowed without a user name (ErrNoUser), or when
// the user named differs from the one the client authenticates as.
func New(client *clientv3.Client, opts ...Option) (http.Handler, error) {
	c := config{prefix: failsafe.DefaultPrefix, base: "/", log: zap.NewNop(), pageSize: DefaultPageSize}
	for _, o := range opts {
		o(&c)
	}
	if c.pageSize <= 0 {
		return nil, fmt.Errorf("dashboard: page size %d: want a positive number", c.pageSize)
	}
	if !strings.HasPrefix(c.prefix, "/") {
		return nil, fmt.Errorf("dashboard: prefix %q: want an absolute key prefix such as /p2", c.prefix)
	}
	if c.writes {
		switch {
		case c.user == "" && client.Username == "":
			return nil, ErrNoUser
		case c.user == "":
			c.user = client.Username
		case client.Username != "" && client.Username != c.user:
			return nil, fmt.Errorf("dashboard: writes as %q, but the etcd client authenticates as %q: the audit would name the wrong user", c.user, client.Username)
		}
	}
	if len(c.secret) == 0 {
		c.secret = make([]byte, 32)
		if _, err := rand.Read(c.secret); err != nil {
			return nil, fmt.Errorf("dashboard: csrf secret: %w", err)
		}
	}
	t, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	s := &server{cli: client, cfg: c, log: c.log, mux: http.NewServeMux(), tmpl: t,
		hub: &hub{cli: client, prefix: c.prefix, log: c.log}}
	s.routes()
	return s, nil
}

func (s *server) routes() {
	b := s.cfg.base
	s.mux.Handle("GET "+b+"static/", http.StripPrefix(b, staticHandler()))
	s.mux.HandleFunc("GET "+b+"{$}", s.page("fleet", s.fleetPage))
	s.mux.HandleFunc("GET "+b+"controllers", s.page("controllers", s.controllersPage))
	s.mux.HandleFunc("GET "+b+"rolls", s.page("rolls", s.rollsPage))
	s.mux.HandleFunc("GET "+b+"holds", s.page("holds", s.holdsPage))
	s.mux.HandleFunc("GET "+b+"holds/{id}/release", s.page("confirm", s.confirmPage))
	s.mux.HandleFunc("POST "+b+"holds/{id}/release", s.release)
	s.mux.HandleFunc("GET "+b+"audit", s.page("audit", s.auditPage))
	s.mux.HandleFunc("GET "+b+"entity/{kind}/{id...}", s.page("entity", s.entityPage))
	s.mux.HandleFunc("GET "+b+"events", s.events)
	// Any other write is refused as a write, not as an unknown method.
	s.mux.HandleFunc("POST "+b, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "the dashboard accepts no such write", http.StatusForbidden)
	})
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin")
	s.mux.ServeHTTP(w, r)
}

// httpError is an error with the status it is answered with.
type httpError struct {
	code int
	err  error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func statusErr(code int, format string, args ...any) error {
	return &httpError{code: code, err: fmt.Errorf(format, args...)}
}

// page wraps a page's data function: it reads with a deadline, renders the
// named template in the layout, and answers errors as a page too.
func (s *server) page(name string, data func(ctx context.Context, r *http.Request, v *view) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
		defer cancel()
		v := s.newView(name)
		s.banner(ctx, v)
		err := data(ctx, r, v)
		code := http.StatusOK
		if err != nil {
			code = http.StatusInternalServerError
			var he *httpError
			if errors.As(err, &he) {
				code = he.code
			}
			if code >= 500 {
				s.log.Error("dashboard page", zap.String("path", r.URL.Path), zap.Error(err))
			}
			v.Error = err.Error()
		}
		s.render(w, code, name, v)
	}
}
