package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Roles of the counted clients. The simulator's own writes (labels, self
// pods, the daemon set, the RC, the roll, the mass deletion) are the
// driver's; p2kit's cost is the preparers' and the controller's.
const (
	rolePreparers = iota
	roleController
	roleDriver
	numRoles
)

var roleNames = [numRoles]string{"preparers", "controller", "driver"}

// counts are the requests one role made, counted at the client.
type counts struct {
	Range, Put, Txn, Delete int64
	WatchCreates            int64 // watches created on a stream
	WatchEvents             int64 // events delivered in watch responses
	ReleaseEvents           int64 // of which on failsafe release keys
	WatchResponses          int64 // watch responses, progress notifications included
	KeepAlives              int64 // lease keep-alive requests
	Other                   int64 // leases, status, auth, ...
	Sent, Recv              int64 // protobuf bytes of requests and responses
}

// Requests counts the unary requests and watch creations; stream
// messages (keep-alives, watch responses) are counted apart.
func (c counts) Requests() int64 {
	return c.Range + c.Put + c.Txn + c.Delete + c.WatchCreates + c.Other
}

func (c counts) sub(o counts) counts {
	return counts{
		Range: c.Range - o.Range, Put: c.Put - o.Put, Txn: c.Txn - o.Txn, Delete: c.Delete - o.Delete,
		WatchCreates: c.WatchCreates - o.WatchCreates, WatchEvents: c.WatchEvents - o.WatchEvents,
		ReleaseEvents:  c.ReleaseEvents - o.ReleaseEvents,
		WatchResponses: c.WatchResponses - o.WatchResponses, KeepAlives: c.KeepAlives - o.KeepAlives,
		Other: c.Other - o.Other, Sent: c.Sent - o.Sent, Recv: c.Recv - o.Recv,
	}
}

func (c counts) add(o counts) counts {
	return counts{
		Range: c.Range + o.Range, Put: c.Put + o.Put, Txn: c.Txn + o.Txn, Delete: c.Delete + o.Delete,
		WatchCreates: c.WatchCreates + o.WatchCreates, WatchEvents: c.WatchEvents + o.WatchEvents,
		ReleaseEvents:  c.ReleaseEvents + o.ReleaseEvents,
		WatchResponses: c.WatchResponses + o.WatchResponses, KeepAlives: c.KeepAlives + o.KeepAlives,
		Other: c.Other + o.Other, Sent: c.Sent + o.Sent, Recv: c.Recv + o.Recv,
	}
}

// counter counts the requests of one role with gRPC interceptors.
type counter struct {
	rng, put, txn, del, watches, events, other, sent, recv atomic.Int64
	responses, keepAlives, releaseEvents                   atomic.Int64

	// detail counts writes by method and key class ("Put status/nodes")
	// and failed requests by method and gRPC code ("Put: Unavailable"):
	// what the phase lines print, to tell which bookkeeping is retried.
	mu     sync.Mutex
	detail map[string]int64
}

func (c *counter) note(what string) {
	c.mu.Lock()
	if c.detail == nil {
		c.detail = make(map[string]int64)
	}
	c.detail[what]++
	c.mu.Unlock()
}

// details copies the detail counts.
func (c *counter) details() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.detail)
}

// keyClass is the part of key that names what it is, the prefix and ids
// left out: "intent", "status/nodes", "failsafe/holds".
func keyClass(key []byte) string {
	parts := strings.SplitN(strings.TrimPrefix(string(key), "/"), "/", 4)
	if len(parts) < 2 {
		return string(key)
	}
	switch parts[1] {
	case "status", "failsafe", "labels":
		if len(parts) > 2 {
			return parts[1] + "/" + parts[2]
		}
	}
	return parts[1]
}

// writeClass names a write request by its method and first key.
func writeClass(req any) string {
	switch r := req.(type) {
	case *etcdserverpb.PutRequest:
		return "Put " + keyClass(r.Key)
	case *etcdserverpb.DeleteRangeRequest:
		return "Delete " + keyClass(r.Key)
	case *etcdserverpb.TxnRequest:
		if k := firstKey(r); k != nil {
			return "Txn " + keyClass(k)
		}
		return "Txn"
	}
	return ""
}

// firstKey is the first key a KV request names, nil for others.
func firstKey(req any) []byte {
	switch r := req.(type) {
	case *etcdserverpb.RangeRequest:
		return r.Key
	case *etcdserverpb.PutRequest:
		return r.Key
	case *etcdserverpb.DeleteRangeRequest:
		return r.Key
	case *etcdserverpb.TxnRequest:
		for _, ops := range [][]*etcdserverpb.RequestOp{r.Success, r.Failure} {
			for _, op := range ops {
				switch {
				case op.GetRequestPut() != nil:
					return op.GetRequestPut().Key
				case op.GetRequestDeleteRange() != nil:
					return op.GetRequestDeleteRange().Key
				case op.GetRequestRange() != nil:
					return op.GetRequestRange().Key
				}
			}
		}
	}
	return nil
}

func (c *counter) snapshot() counts {
	return counts{
		Range: c.rng.Load(), Put: c.put.Load(), Txn: c.txn.Load(), Delete: c.del.Load(),
		WatchCreates: c.watches.Load(), WatchEvents: c.events.Load(), ReleaseEvents: c.releaseEvents.Load(),
		Other:          c.other.Load(),
		WatchResponses: c.responses.Load(), KeepAlives: c.keepAlives.Load(),
		Sent: c.sent.Load(), Recv: c.recv.Load(),
	}
}

// dialOptions are the interceptors to give the role's etcd clients.
func (c *counter) dialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(c.unary),
		grpc.WithChainStreamInterceptor(c.stream),
	}
}

func size(m any) int64 {
	if pm, ok := m.(proto.Message); ok {
		return int64(proto.Size(pm))
	}
	return 0
}

func (c *counter) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	switch method {
	case "/etcdserverpb.KV/Range":
		c.rng.Add(1)
	case "/etcdserverpb.KV/Put":
		c.put.Add(1)
	case "/etcdserverpb.KV/Txn":
		c.txn.Add(1)
	case "/etcdserverpb.KV/DeleteRange":
		c.del.Add(1)
	default:
		c.other.Add(1)
	}
	c.sent.Add(size(req))
	if w := writeClass(req); w != "" {
		c.note(w)
	}
	err := invoker(ctx, method, req, reply, cc, opts...)
	if err == nil {
		c.recv.Add(size(reply))
	} else {
		what := path.Base(method)
		if k := firstKey(req); k != nil {
			what += " " + keyClass(k)
		}
		st := status.Convert(err)
		c.note(what + ": " + st.Code().String() + " " + st.Message())
	}
	return err
}

func (c *counter) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
	streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &countedStream{ClientStream: s, c: c}, nil
}

// releasesDir is in every failsafe release key, whatever the prefix.
var releasesDir = []byte("/failsafe/releases/")

// countedStream counts the messages of one stream: watch creations and the
// events of watch responses, and every message's bytes.
type countedStream struct {
	grpc.ClientStream
	c *counter
}

func (s *countedStream) SendMsg(m any) error {
	switch r := m.(type) {
	case *etcdserverpb.WatchRequest:
		if r.GetCreateRequest() != nil {
			s.c.watches.Add(1)
		}
	case *etcdserverpb.LeaseKeepAliveRequest:
		s.c.keepAlives.Add(1)
	}
	s.c.sent.Add(size(m))
	return s.ClientStream.SendMsg(m)
}

func (s *countedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		return err
	}
	if w, ok := m.(*etcdserverpb.WatchResponse); ok {
		s.c.responses.Add(1)
		s.c.events.Add(int64(len(w.Events)))
		for _, ev := range w.Events {
			if ev.Kv != nil && bytes.Contains(ev.Kv.Key, releasesDir) {
				s.c.releaseEvents.Add(1)
			}
		}
	}
	s.c.recv.Add(size(m))
	return nil
}

// serverMetrics are the embedded member's own counters, read from its
// /metrics endpoint: a cross-check of the client counts that also sees
// the simulator's uncounted observer.
type serverMetrics struct {
	Range, Put, Delete, Txn float64 // etcd_mvcc_*_total
	Events                  float64 // etcd_debugging_mvcc_events_total: events sent to watchers
	Recv, Sent              float64 // etcd_network_client_grpc_{received,sent}_bytes_total
}

func (m serverMetrics) sub(o serverMetrics) serverMetrics {
	return serverMetrics{Range: m.Range - o.Range, Put: m.Put - o.Put, Delete: m.Delete - o.Delete,
		Txn: m.Txn - o.Txn, Events: m.Events - o.Events, Recv: m.Recv - o.Recv, Sent: m.Sent - o.Sent}
}

var scrapeClient = &http.Client{Timeout: 10 * time.Second}

// scrape reads the member's metrics at url.
func scrape(ctx context.Context, url string) (serverMetrics, error) {
	var m serverMetrics
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return m, err
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return m, fmt.Errorf("etcd metrics: %w", err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return m, fmt.Errorf("etcd metrics %s: %w", url, err)
	}
	sum := func(name string) float64 {
		var total float64
		if f, ok := fams[name]; ok {
			for _, mt := range f.GetMetric() {
				total += mt.GetCounter().GetValue()
			}
		}
		return total
	}
	m.Range = sum("etcd_mvcc_range_total")
	m.Put = sum("etcd_mvcc_put_total")
	m.Delete = sum("etcd_mvcc_delete_total")
	m.Txn = sum("etcd_mvcc_txn_total")
	m.Events = sum("etcd_debugging_mvcc_events_total")
	m.Recv = sum("etcd_network_client_grpc_received_bytes_total")
	m.Sent = sum("etcd_network_client_grpc_sent_bytes_total")
	return m, nil
}

// detailDiff is after less before, the counts that did not change left out.
func detailDiff(before, after map[string]int64) map[string]int64 {
	d := make(map[string]int64)
	for k, v := range after {
		if n := v - before[k]; n != 0 {
			d[k] = n
		}
	}
	return d
}

// formatDetail lists d's counts, the largest first, at most max of them.
func formatDetail(d map[string]int64, max int) string {
	keys := slices.Collect(maps.Keys(d))
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(d[b], d[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	var b strings.Builder
	for i, k := range keys {
		if i == max {
			fmt.Fprintf(&b, "; %d more", len(keys)-max)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %d", k, d[k])
	}
	return b.String()
}
