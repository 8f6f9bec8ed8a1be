package preparer

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/status"
	"go.uber.org/zap"
)

// DefaultHealthChecker checks a pod over HTTP when its manifest has a status
// check with http set, and otherwise passes while every process runs.
type DefaultHealthChecker struct {
	// Client makes the HTTP checks; nil means a client with a 2s timeout.
	Client *http.Client
	// Host is the address checked; empty means 127.0.0.1.
	Host string
}

var defaultHealthClient = &http.Client{Timeout: 2 * time.Second}

// Check implements HealthChecker.
func (d DefaultHealthChecker) Check(ctx context.Context, m *manifest.Manifest, procs []status.Process) (status.Health, error) {
	if hc := m.HealthCheck(); hc != nil && hc.HTTP {
		c := d.Client
		if c == nil {
			c = defaultHealthClient
		}
		host := d.Host
		if host == "" {
			host = "127.0.0.1"
		}
		url := fmt.Sprintf("http://%s%s", net.JoinHostPort(host, strconv.Itoa(hc.Port)), hc.PathOrDefault())
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return status.Critical, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return status.Critical, fmt.Errorf("health %s: %w", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return status.Critical, fmt.Errorf("health %s: %s", url, resp.Status)
		}
		return status.Passing, nil
	}
	if len(procs) == 0 {
		return status.Unknown, nil
	}
	for _, pr := range procs {
		if pr.PID == 0 {
			return status.Critical, fmt.Errorf("%s %s is not running", pr.Launchable, pr.EntryPoint)
		}
	}
	return status.Passing, nil
}

// healthCheck checks every launched pod and writes a pod's status record
// when its health or processes change; it also refreshes the watch lag
// gauge while intent is quiet. It runs every health interval (every).
func (p *Preparer) healthCheck(w interface{ Lag() int64 }) func(context.Context) {
	return func(ctx context.Context) {
		p.checkAll(ctx)
		p.m.setLag(p.node, w.Lag())
	}
}

func (p *Preparer) checkAll(ctx context.Context) {
	p.mu.Lock()
	var pods []*manifest.Manifest
	for pod, m := range p.desired.All() {
		if last, ok := p.lastStatus.Get(pod); ok && last.Status == status.Launched && pod != p.selfPod {
			pods = append(pods, m)
		}
	}
	p.mu.Unlock()
	if len(pods) == 1 || p.workers == 1 {
		// No goroutines to start for checks made one at a time.
		for _, m := range pods {
			p.checkPod(ctx, m)
		}
		return
	}
	sem := make(chan struct{}, p.workers)
	var wg sync.WaitGroup
	for _, m := range pods {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p.checkPod(ctx, m)
		})
	}
	wg.Wait()
}

func (p *Preparer) checkPod(ctx context.Context, m *manifest.Manifest) {
	l := p.lockPod(m.ID)
	defer l.Unlock()
	p.mu.Lock()
	last, ok := p.lastStatus.Get(m.ID)
	current := p.desired.Value(m.ID) == m
	p.mu.Unlock()
	if !ok || last.Status != status.Launched || !current {
		return // changed since the list was taken
	}
	procs, err := p.launch.Processes(m.ID)
	if err != nil {
		p.log.Warn("read processes", zap.String("pod", m.ID), zap.Error(err))
		return
	}
	h, herr := p.health.Check(ctx, m, procs)
	if ctx.Err() != nil {
		return
	}
	h, herr = judgeRestarts(h, herr, last.Processes, procs, p.crashWindow, time.Now())
	st := *last
	st.Health = h
	st.Processes = procs
	if h != last.Health {
		p.log.Info("pod health changed", zap.String("pod", m.ID),
			zap.String("from", string(last.Health)), zap.String("to", string(h)), zap.NamedError("reason", herr))
	}
	if err := p.setStatus(ctx, m.ID, st); err != nil {
		p.log.Warn("write pod status", zap.String("pod", m.ID), zap.Error(err))
	}
}
