package failsafe

import (
	"reflect"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A releaseHub receives the responses of the release watches of every
// Holds that shares one etcd client, in one goroutine, and hands each to
// its Holds (onReleases). The etcd client already runs a goroutine for
// each watch; one more per Holds to receive from it made a process that
// simulates a fleet, one Holds per node, pay two per held node.
//
// The hub's goroutine starts with the first watch added and ends when the
// last is removed or the client is closed.
type releaseHub struct {
	client *clientv3.Client
	// changed wakes the goroutine up to select over the watches again.
	changed chan struct{}

	mu      sync.Mutex
	watches map[*Holds]clientv3.WatchChan
	running bool // the goroutine runs; changed under hubs' lock too
}

// hubs are the release hubs whose goroutine runs, by client.
var hubs struct {
	sync.Mutex
	m map[*clientv3.Client]*releaseHub
}

// addReleaseWatch has the hub of h's client receive from ch, h's new
// release watch, and returns the hub. Called with h.wmu held: the hub's
// watches change with h.rw, so that the hub hands h the responses of
// h.rw.ch only.
func addReleaseWatch(h *Holds, ch clientv3.WatchChan) *releaseHub {
	hubs.Lock()
	defer hubs.Unlock()
	hub := hubs.m[h.client]
	if hub == nil {
		hub = &releaseHub{client: h.client, changed: make(chan struct{}, 1),
			watches: make(map[*Holds]clientv3.WatchChan)}
		if hubs.m == nil {
			hubs.m = make(map[*clientv3.Client]*releaseHub)
		}
		hubs.m[h.client] = hub
	}
	hub.mu.Lock()
	hub.watches[h] = ch
	start := !hub.running
	hub.running = true
	hub.mu.Unlock()
	if start {
		go hub.run()
	} else {
		hub.wake()
	}
	return hub
}

// remove stops handing h the responses of its release watch. Called with
// h.wmu held.
func (hub *releaseHub) remove(h *Holds) {
	hub.mu.Lock()
	delete(hub.watches, h)
	hub.mu.Unlock()
	hub.wake()
}

func (hub *releaseHub) wake() {
	select {
	case hub.changed <- struct{}{}:
	default:
	}
}

// The first cases run selects over, before one for each watch.
const (
	hubChanged = iota
	hubClosed
	hubWatches
)

// run receives from the hub's watches until none is left or the client is
// closed. It never holds hub.mu while it hands a response out: onReleases
// may stop the watch, which removes it from the hub.
func (hub *releaseHub) run() {
	cases := []reflect.SelectCase{
		hubChanged: {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(hub.changed)},
		hubClosed:  {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(hub.client.Ctx().Done())},
	}
	var (
		holds []*Holds
		chans []clientv3.WatchChan
	)
	stale := true
	for {
		if stale {
			stale = false
			cases, holds, chans = cases[:hubWatches], holds[:0], chans[:0]
			hub.mu.Lock()
			for h, ch := range hub.watches {
				cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
				holds, chans = append(holds, h), append(chans, ch)
			}
			hub.mu.Unlock()
			if len(holds) == 0 {
				if hub.stop(false) {
					return
				}
				stale = true // a watch was added meanwhile
				continue
			}
		}
		i, v, ok := reflect.Select(cases)
		switch i {
		case hubChanged:
			stale = true
			continue
		case hubClosed:
			hub.stop(true)
			return
		}
		h, ch := holds[i-hubWatches], chans[i-hubWatches]
		if !ok {
			// A closed channel would be selected again at once. It is
			// not among the watches once onReleases has stopped it, or
			// when it was stopped already.
			stale = true
		}
		hub.mu.Lock()
		current := hub.watches[h] == ch
		hub.mu.Unlock()
		if !current {
			continue // stopped meanwhile; onReleases would drop it
		}
		var wr clientv3.WatchResponse
		if ok {
			wr = v.Interface().(clientv3.WatchResponse)
		}
		h.onReleases(ch, wr, ok)
	}
}

// stop ends the hub, when it has no watch left or when closed is set (the
// client is closed: its watches end with it). It returns false when a
// watch was added meanwhile and the hub goes on.
func (hub *releaseHub) stop(closed bool) bool {
	hubs.Lock()
	defer hubs.Unlock()
	hub.mu.Lock()
	defer hub.mu.Unlock()
	if !closed && len(hub.watches) > 0 {
		return false
	}
	hub.running = false
	if hubs.m[hub.client] == hub {
		delete(hubs.m, hub.client)
	}
	return true
}
