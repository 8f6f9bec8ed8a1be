package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/p2kit/p2kit/manifest"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// podHistory is what etcd's history of one pod's intent says happened
// between two revisions.
type podHistory struct {
	pod         string
	from, to    int64
	changes     int
	most, least int               // nodes the pod was scheduled on, judged at each revision
	inPlace     []string          // "node@revision": scheduled again with another version in place
	final       map[string]string // node -> digest at to
	undecodable []string
}

// rollHistory replays the intent of pod on every node from revision from
// to revision to, from etcd's history (the watch replays it), and
// counts, at every revision, the nodes the pod is scheduled on.
func rollHistory(ctx context.Context, cli *clientv3.Client, prefix, pod string, from, to int64) (*podHistory, error) {
	dir := prefix + "/intent/"
	h := &podHistory{pod: pod, from: from, to: to, final: map[string]string{}}
	// The state before from.
	resp, err := cli.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithRev(from-1))
	if err != nil {
		return nil, fmt.Errorf("intent at revision %d: %w", from-1, err)
	}
	scheduled := map[string]string{} // node -> value
	for _, kv := range resp.Kvs {
		if node, ok := podKey(dir, string(kv.Key), pod); ok {
			scheduled[node] = string(kv.Value)
		}
	}
	h.most, h.least = len(scheduled), len(scheduled)
	if to >= from {
		events, err := history(ctx, cli, dir, from, to)
		if err != nil {
			return nil, err
		}
		for i, ev := range events {
			if node, ok := podKey(dir, string(ev.Kv.Key), pod); ok {
				h.changes++
				switch old, was := scheduled[node]; {
				case ev.Type == mvccpb.DELETE:
					delete(scheduled, node)
				case was && old != string(ev.Kv.Value):
					h.inPlace = append(h.inPlace, fmt.Sprintf("%s@%d", node, ev.Kv.ModRevision))
					fallthrough
				default:
					scheduled[node] = string(ev.Kv.Value)
				}
			}
			// Judge each revision once all its events are in.
			if i+1 == len(events) || events[i+1].Kv.ModRevision != ev.Kv.ModRevision {
				h.most, h.least = max(h.most, len(scheduled)), min(h.least, len(scheduled))
			}
		}
	}
	for node, v := range scheduled {
		m, err := manifest.Decode([]byte(v))
		if err == nil {
			var d string
			if d, err = m.Digest(); err == nil {
				h.final[node] = d
				continue
			}
		}
		h.undecodable = append(h.undecodable, fmt.Sprintf("%s/%s: %v", node, pod, err))
	}
	return h, nil
}

// history returns the events under dir from revision from to revision to,
// replayed by a watch. The watch's end is judged by its events or, when
// none came after to, by a progress notification confirmed by etcd's keys
// at to: etcd before 3.4.24 and 3.5.8 answers a progress request before
// the events of a watch still replaying history (etcd-io/etcd#15220).
func history(ctx context.Context, cli *clientv3.Client, dir string, from, to int64) ([]*clientv3.Event, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	keys, err := keysAt(ctx, cli, dir, from-1)
	if err != nil {
		return nil, err
	}
	wch := cli.Watch(ctx, dir, clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithProgressNotify())
	_ = cli.RequestProgress(ctx) // a history that ends in quiet ends without waiting for the ticker
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var events []*clientv3.Event
	var checked time.Time
	for {
		select {
		case wr, ok := <-wch:
			if !ok {
				return nil, fmt.Errorf("history of %s from revision %d: watch ended: %w", dir, from, ctx.Err())
			}
			if err := wr.Err(); err != nil {
				return nil, fmt.Errorf("history of %s from revision %d: %w", dir, from, err)
			}
			for _, ev := range wr.Events {
				if ev.Kv.ModRevision > to {
					return events, nil // a watch's events come in order
				}
				events = append(events, ev)
				if ev.Type == mvccpb.DELETE {
					delete(keys, string(ev.Kv.Key))
				} else {
					keys[string(ev.Kv.Key)] = ev.Kv.ModRevision
				}
			}
			if n := len(wr.Events); n > 0 && wr.Events[n-1].Kv.ModRevision == to {
				return events, nil
			}
			if wr.IsProgressNotify() && wr.Header.Revision >= to && time.Since(checked) > 500*time.Millisecond {
				checked = time.Now()
				at, err := keysAt(ctx, cli, dir, to)
				if err != nil {
					return nil, err
				}
				if maps.Equal(at, keys) {
					return events, nil
				}
			}
		case <-tick.C:
			_ = cli.RequestProgress(ctx)
		case <-ctx.Done():
			return nil, fmt.Errorf("history of %s from revision %d: %w", dir, from, ctx.Err())
		}
	}
}

// keysAt returns the keys under dir at revision rev, with their
// modification revisions.
func keysAt(ctx context.Context, cli *clientv3.Client, dir string, rev int64) (map[string]int64, error) {
	resp, err := cli.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithRev(rev), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("keys of %s at revision %d: %w", dir, rev, err)
	}
	keys := make(map[string]int64, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		keys[string(kv.Key)] = kv.ModRevision
	}
	return keys, nil
}

// podKey returns the node of "<dir><node>/<pod>".
func podKey(dir, key, pod string) (string, bool) {
	rest, ok := strings.CutPrefix(key, dir)
	if !ok {
		return "", false
	}
	node, p, ok := strings.Cut(rest, "/")
	return node, ok && p == pod
}

func (h *podHistory) String() string {
	return fmt.Sprintf("intent history of %s, revisions %d to %d: %d changes, scheduled on %d to %d nodes, %d overwritten in place with another version",
		h.pod, h.from, h.to, h.changes, h.least, h.most, len(h.inPlace))
}

// check says what is wrong with a roll to desired replicas of digest,
// moving step at a time: a pod scheduled twice on a node (overwritten in
// place with another version), more than desired+step scheduled at once,
// or another end than desired nodes running digest.
func (h *podHistory) check(desired, step int, digest string) error {
	var errs []error
	if len(h.inPlace) > 0 {
		errs = append(errs, fmt.Errorf("%s overwritten in place with another version (scheduled twice) at %s",
			h.pod, strings.Join(h.inPlace[:min(5, len(h.inPlace))], ", ")))
	}
	if h.most > desired+step {
		errs = append(errs, fmt.Errorf("%s scheduled on %d nodes at once, more than %d desired and a step of %d", h.pod, h.most, desired, step))
	}
	if len(h.undecodable) > 0 {
		errs = append(errs, fmt.Errorf("intent undecodable: %s", strings.Join(h.undecodable, "; ")))
	}
	n := 0
	for _, d := range h.final {
		if d == digest {
			n++
		}
	}
	if n != desired || len(h.final) != desired {
		errs = append(errs, fmt.Errorf("after the roll %s is scheduled on %d nodes, %d of them at the new version, want %d", h.pod, len(h.final), n, desired))
	}
	return errors.Join(errs...)
}
