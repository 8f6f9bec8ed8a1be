package farm

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// sessions hands one etcd session (lease) to every farm that asks, and a
// new one once it is lost: a farm alone has its own, the farms of a
// Manager share one.
type sessions struct {
	client *clientv3.Client
	ttl    int
	retry  time.Duration
	log    *zap.Logger

	mu     sync.Mutex
	cur    *concurrency.Session
	closed bool
}

func newSessions(client *clientv3.Client, ttl int, retry time.Duration, log *zap.Logger) *sessions {
	return &sessions{client: client, ttl: ttl, retry: max(retry, 10*time.Millisecond), log: log}
}

// get returns the live session, starting a new one when there is none,
// retrying until ctx ends.
func (s *sessions) Get(ctx context.Context) (*concurrency.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closed {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		if s.cur != nil {
			select {
			case <-s.cur.Done():
				s.cur = nil
			default:
				return s.cur, nil
			}
		}
		// The session outlives ctx so that Close can still revoke it.
		sess, err := concurrency.NewSession(s.client, concurrency.WithTTL(s.ttl),
			concurrency.WithContext(context.WithoutCancel(ctx)))
		if err == nil {
			s.cur = sess
			return sess, nil
		}
		s.log.Warn("start session; retrying", zap.Error(err))
		if !sleep(ctx, s.retry) {
			return nil, ctx.Err()
		}
	}
}

// Close revokes the session, so that other processes take over at once.
func (s *sessions) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.cur != nil {
		_ = s.cur.Close()
		s.cur = nil
	}
}
