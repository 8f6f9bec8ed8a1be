package retention

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/internal/promreg"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// Cleaner prunes the audit log and orphaned status records. Several
// controllers may each run one: only the holder of the lock
// <root>/locks/retention deletes, and every delete is guarded by the
// lock, so a Cleaner that lost it deletes nothing.
type Cleaner struct {
	client  *clientv3.Client
	cfg     config
	log     *audit.Log
	orphans *Orphans
	space   *Space

	auditDeleted, statusDeleted atomic.Int64
	deleted                     *prometheus.CounterVec
}

// New returns a Cleaner; Run starts it.
func New(client *clientv3.Client, opts ...Option) (*Cleaner, error) {
	if client == nil {
		return nil, errors.New("retention: nil etcd client")
	}
	cfg := configure(opts)
	orphans, err := NewOrphans(client, cfg.prefix, cfg.grace, cfg.rules, cfg.log)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	return &Cleaner{
		client:  client,
		cfg:     cfg,
		log:     audit.NewLog(client, keyspace.WithPrefix(cfg.prefix), keyspace.WithLogger(cfg.log)),
		orphans: orphans,
		space:   NewSpace(client, cfg.log, cfg.reg),
		deleted: promreg.Register(cfg.reg, cfg.log, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "p2kit_retention_deleted_total",
			Help: "Keys deleted by the retention cleaner, by kind (audit; status: orphaned status records and labels).",
		}, []string{"kind"})),
	}, nil
}

// Deleted returns how many audit and status records this Cleaner deleted.
func (c *Cleaner) Deleted() (auditRecords, statusRecords int64) {
	return c.auditDeleted.Load(), c.statusDeleted.Load()
}

// Run watches etcd's space (every Cleaner reports a NOSPACE alarm) and,
// whenever it holds the lock, prunes at once and then every interval,
// until ctx ends.
func (c *Cleaner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() { c.space.Run(ctx, c.cfg.interval) })
	for ctx.Err() == nil {
		if err := c.lead(ctx); err != nil && ctx.Err() == nil {
			c.cfg.log.Warn("retention: lost or could not take the lock; trying again",
				zap.Error(kv.EtcdError(err)))
			select {
			case <-ctx.Done():
			case <-time.After(c.cfg.interval):
			}
		}
	}
	return nil
}

// lead takes the lock and prunes until the session or ctx ends.
func (c *Cleaner) lead(ctx context.Context) error {
	session, err := concurrency.NewSession(c.client, concurrency.WithTTL(c.cfg.ttl), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	defer session.Close()
	lock := concurrency.NewMutex(session, c.cfg.prefix+"/locks/"+LockName)
	if err := lock.Lock(ctx); err != nil {
		return fmt.Errorf("lock %s: %w", LockName, err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = lock.Unlock(uctx)
	}()
	c.cfg.log.Info("retention: lock taken; pruning", zap.String("lock", lock.Key()))
	tick := time.NewTicker(c.cfg.interval)
	defer tick.Stop()
	for {
		if err := c.Pass(ctx, lock.IsOwner()); err != nil {
			if errors.Is(err, kv.ErrConflict) {
				return err
			}
			if ctx.Err() == nil {
				c.cfg.log.Warn("retention pass", zap.Error(err))
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-session.Done():
			return errors.New("session expired")
		case <-tick.C:
		}
	}
}

// Pass prunes once: the audit log, then orphaned status records and
// labels, every transaction guarded by guard.
func (c *Cleaner) Pass(ctx context.Context, guard ...clientv3.Cmp) error {
	var errs []error
	n, err := c.log.Prune(ctx, c.cfg.audit, guard...)
	c.count("audit", &c.auditDeleted, n)
	if err != nil {
		errs = append(errs, err)
	}
	if len(c.cfg.rules) > 0 {
		n, err = c.orphans.Prune(ctx, guard...)
		c.count("status", &c.statusDeleted, n)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return kv.EtcdError(errors.Join(errs...))
}

func (c *Cleaner) count(kind string, total *atomic.Int64, n int) {
	if n == 0 {
		return
	}
	total.Add(int64(n))
	c.deleted.WithLabelValues(kind).Add(float64(n))
	c.cfg.log.Info("retention: records deleted", zap.String("kind", kind), zap.Int("deleted", n))
}
