package etcdtest

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.etcd.io/etcd/pkg/v3/proxy"
	"go.uber.org/zap"
)

// Proxy is etcd's fault-injecting TCP proxy (go.etcd.io/etcd/pkg/v3/proxy)
// in front of one member's client URL. A client given the proxy's
// Endpoint reaches the member through it; Blackhole, Delay and their
// undoing act on every connection, open or new. Closed by t.Cleanup.
type Proxy struct {
	// Member is the member the proxy forwards to.
	Member *Member
	srv    proxy.Server
	url    url.URL
}

// Proxy starts a proxy in front of the member's client URL on a free
// loopback port.
func (m *Member) Proxy(t TB) *Proxy {
	t.Helper()
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("etcdtest: proxy for %s: %v", m.Name, err)
		}
		from := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}
		srv := proxy.NewServer(proxy.ServerConfig{Logger: zap.NewNop(), From: from, To: m.ClientURL})
		select {
		case <-srv.Ready():
		case err := <-srv.Error():
			_ = srv.Close()
			last = err
			continue
		case <-time.After(startTimeout):
			_ = srv.Close()
			t.Fatalf("etcdtest: proxy for %s not ready after %s", m.Name, startTimeout)
		}
		p := &Proxy{Member: m, srv: srv, url: from}
		// The proxy reports every broken connection on a small channel and
		// stalls its copying while that channel is full: keep it drained.
		go func() {
			for {
				select {
				case <-srv.Error():
				case <-srv.Done():
					return
				}
			}
		}()
		t.Cleanup(func() { _ = srv.Close() })
		return p
	}
	t.Fatalf("etcdtest: proxy for %s: %v", m.Name, last)
	return nil
}

// Endpoint is the proxy's client URL.
func (p *Proxy) Endpoint() string { return p.url.String() }

// Blackhole drops every byte in both directions while connections stay
// open. TCP never loses bytes from a live connection, so streams that carry
// data during a blackhole may be left damaged for good (see Pause for the
// partition TCP itself sees); a client must notice and reconnect.
func (p *Proxy) Blackhole() {
	p.srv.BlackholeTx()
	p.srv.BlackholeRx()
}

// Unblackhole forwards bytes again.
func (p *Proxy) Unblackhole() {
	p.srv.UnblackholeTx()
	p.srv.UnblackholeRx()
}

// Pause holds every byte in both directions and delivers it, in order,
// on Unpause: requests sent meanwhile reach etcd late, as after a
// partition that heals before the connection breaks.
func (p *Proxy) Pause() {
	p.srv.PauseTx()
	p.srv.PauseRx()
}

// Unpause delivers what Pause held and forwards bytes again.
func (p *Proxy) Unpause() {
	p.srv.UnpauseTx()
	p.srv.UnpauseRx()
}

// Delay holds every chunk of bytes read in each direction for latency
// before forwarding it, so a request's round trip takes at least twice
// latency more; chunks of one connection wait in turn, so a busy
// connection is slowed more.
func (p *Proxy) Delay(latency time.Duration) {
	p.srv.DelayTx(latency, 0)
	p.srv.DelayRx(latency, 0)
}

// Undelay removes the added latency.
func (p *Proxy) Undelay() {
	p.srv.UndelayTx()
	p.srv.UndelayRx()
}

// Server is the underlying proxy, for the faults Proxy does not name
// (pausing, modifying or delaying one direction, refusing connections).
func (p *Proxy) Server() proxy.Server { return p.srv }

// Proxies is one proxy per member of a cluster.
type Proxies []*Proxy

// Proxies starts a proxy in front of every member.
func (c *Cluster) Proxies(t TB) Proxies {
	t.Helper()
	ps := make(Proxies, 0, len(c.Members))
	for _, m := range c.Members {
		ps = append(ps, m.Proxy(t))
	}
	return ps
}

// Endpoints lists the proxies' client URLs.
func (ps Proxies) Endpoints() []string {
	eps := make([]string, 0, len(ps))
	for _, p := range ps {
		eps = append(eps, p.Endpoint())
	}
	return eps
}

// Blackhole blackholes every proxy.
func (ps Proxies) Blackhole() {
	for _, p := range ps {
		p.Blackhole()
	}
}

// Unblackhole undoes Blackhole on every proxy.
func (ps Proxies) Unblackhole() {
	for _, p := range ps {
		p.Unblackhole()
	}
}

// Pause pauses every proxy.
func (ps Proxies) Pause() {
	for _, p := range ps {
		p.Pause()
	}
}

// Unpause undoes Pause on every proxy.
func (ps Proxies) Unpause() {
	for _, p := range ps {
		p.Unpause()
	}
}

// Delay adds latency on every proxy.
func (ps Proxies) Delay(latency time.Duration) {
	for _, p := range ps {
		p.Delay(latency)
	}
}

// Undelay undoes Delay on every proxy.
func (ps Proxies) Undelay() {
	for _, p := range ps {
		p.Undelay()
	}
}

// String names the proxies and the members behind them.
func (ps Proxies) String() string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, p.Member.Name+"@"+p.url.Host)
	}
	return strings.Join(parts, ",")
}
