package failsafe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/p2kit/p2kit/kv"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ReleaseRecord is the value of <prefix>/failsafe/releases/<hold-id>.
type ReleaseRecord struct {
	ReleasedBy string    `json:"released_by"`
	Time       time.Time `json:"time"`
}

// Release asks the guard that holds holdID to deliver the net change it
// holds: it writes the hold's release key, if the hold exists. A missing
// hold is an error wrapping kv.ErrNotFound.
func Release(ctx context.Context, client *clientv3.Client, prefix, holdID, releasedBy string) error {
	cmp, put, err := ReleaseOp(prefix, holdID, releasedBy)
	if err != nil {
		return err
	}
	resp, err := client.Txn(ctx).If(cmp).Then(put).Commit()
	if err != nil {
		return fmt.Errorf("release hold %s: %w", holdID, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("release hold %s: %s: %w", holdID, HoldKey(prefix, holdID), kv.ErrNotFound)
	}
	return nil
}

// ReleaseOp is the building block of Release, for callers that write
// other keys in the same transaction (an audit record): the comparison
// that the hold's record exists, and the put of its release. Put them in
// the transaction's If and Then; a transaction that did not succeed found
// no such hold.
func ReleaseOp(prefix, holdID, releasedBy string) (clientv3.Cmp, clientv3.Op, error) {
	if holdID == "" || strings.Contains(holdID, "/") {
		return clientv3.Cmp{}, clientv3.Op{}, fmt.Errorf("release hold %q: %w", holdID, kv.ErrInvalidName)
	}
	data, err := json.Marshal(ReleaseRecord{ReleasedBy: releasedBy, Time: time.Now().UTC().Truncate(time.Millisecond)})
	if err != nil {
		return clientv3.Cmp{}, clientv3.Op{}, fmt.Errorf("release hold %s: %w", holdID, err)
	}
	cmp := clientv3.Compare(clientv3.CreateRevision(HoldKey(prefix, holdID)), ">", 0)
	return cmp, clientv3.OpPut(ReleaseKey(prefix, holdID), string(data)), nil
}

// ListHolds returns the holds recorded under prefix, oldest first.
func ListHolds(ctx context.Context, client *clientv3.Client, prefix string) ([]Record, error) {
	dir := HoldKey(prefix, "")
	resp, err := client.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("list holds %s: %w", dir, err)
	}
	recs := make([]Record, 0, len(resp.Kvs))
	for _, kvp := range resp.Kvs {
		var r Record
		if err := json.Unmarshal(kvp.Value, &r); err != nil {
			return nil, &kv.DecodeError{Key: string(kvp.Key), Revision: kvp.ModRevision, Err: err}
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// releaseDir is where the releases of h's holds are: their keys begin
// with it.
func (h *Holds) releaseDir() string { return ReleaseKey(h.prefix, IDPrefix(h.component)) }

// releaseRange is the key range the release watch covers: the release
// keys of ids that go on from h's IDPrefix with a digit, as the ids
// Begin makes do (the time they began). A component whose name goes on
// from h's with '-' and a letter ("a-b" after "a") has its releases
// outside it; one that goes on with '-' and a digit ("a-1") is inside,
// and ownsID tells its releases apart.
func (h *Holds) releaseRange() (from, end string) {
	dir := h.releaseDir()
	return dir + "0", dir + ":" // ':' follows '9'
}

// foreignTail matches what follows a component's IDPrefix in the ids of
// another component whose name goes on from it: more of a name, '-', then
// the time and random part every id ends with.
var foreignTail = regexp.MustCompile(`^.+-[0-9]{8}-[0-9]{6}\.[0-9]{3}-[0-9a-f]{6}$`)

// ownsID reports whether id is the id of one of h's component's holds,
// not one of a component whose name begins with h's ("a-1" after "a").
func (h *Holds) ownsID(id string) bool {
	rest, ok := strings.CutPrefix(id, IDPrefix(h.component))
	return ok && !foreignTail.MatchString(rest)
}

// releaseWatch is the watch of the component's releases, shared by the
// holds of h; h.wmu guards it.
type releaseWatch struct {
	w       *hubWatch // nil while no watch runs
	opening bool      // a watch is being opened
	// After a failed watch: when to start again, and how long to wait
	// after the next failure.
	retryAt time.Time
	wait    time.Duration
}

// stopReleaseWatch stops h's release watch. Called with h.wmu held.
func (h *Holds) stopReleaseWatch() {
	if h.rw.w != nil {
		h.rw.w.stop()
	}
	h.rw.w = nil
}

// errWatchLater: the release watch failed lately and is not opened again
// before its retry time, or another call is opening it.
var errWatchLater = errors.New("release watch: retrying later")

// openWatch opens the release watch when none runs, from etcd's revision
// at its creation on, and waits (at most timeout) for etcd to confirm
// it. Not from an earlier revision: etcd replays the history since then
// for a watch that starts in the past, holding its watch store's lock,
// which at a mass deletion (every holder's watch opened in the same
// seconds, each from its own moment) stalled etcd's apply loop. A hold's
// record is written after the watch is up, and a release needs the
// record (ReleaseOp), so the watch sees every release of a hold begun
// while it runs; when records may have been released before (the watch
// was down, or a hold was taken up from an earlier run), needList is set
// and the releases are listed once the watch is up (listReleases).
//
// h.wmu is not held while etcd is asked: the goroutine that confirms the
// creation hands out the responses of other watches, h's old one among
// them, which take it.
func (h *Holds) openWatch(timeout time.Duration) error {
	h.wmu.Lock()
	switch {
	case h.rw.w != nil:
		h.wmu.Unlock()
		return nil
	case h.rw.opening || time.Now().Before(h.rw.retryAt):
		h.wmu.Unlock()
		return errWatchLater
	}
	h.rw.opening = true
	h.wmu.Unlock()

	from, end := h.releaseRange()
	ctx, cancel := h.opCtx(timeout)
	w, err := hubOf(h.client).watch(ctx, h, from, end)
	cancel()

	h.wmu.Lock()
	defer h.wmu.Unlock()
	h.rw.opening = false
	if err == nil && h.err() != nil {
		w.stop()
		err = h.err()
	}
	if err == nil {
		h.rw.w = w
		if !w.alive() {
			// Failed before h.rw.w named it, so unseen by onReleases.
			h.stopReleaseWatch()
			err = errors.New("watch ended as it began")
		}
	}
	if err != nil {
		h.rw.failed()
		return fmt.Errorf("watch failsafe releases %s: %w", h.releaseDir(), err)
	}
	h.mu.Lock()
	h.watchUp = true
	h.mu.Unlock()
	return nil
}

// failed notes a failed watch: the next one waits, longer each time.
func (w *releaseWatch) failed() {
	w.wait = min(max(2*w.wait, 50*time.Millisecond), 5*time.Second)
	w.retryAt = time.Now().Add(w.wait)
}

// stopWatch stops the release watch. With holds in effect, their
// releases are listed once the next watch is up.
func (h *Holds) stopWatch() {
	h.wmu.Lock()
	h.stopReleaseWatch()
	h.wmu.Unlock()
	h.watchStopped()
}

// watchStopped notes that the release watch was stopped.
func (h *Holds) watchStopped() {
	h.mu.Lock()
	h.watchUp = false
	h.needList = h.needList || h.live.Len() > 0
	h.mu.Unlock()
}

// listReleases lists the releases of the component's holds and hands them
// out, when needList says some may have been written while no watch ran.
// Called with the watch up, so that nothing falls between the two.
func (h *Holds) listReleases() error {
	h.mu.Lock()
	need := h.needList && h.watchUp
	if need {
		h.needList = false
	}
	h.mu.Unlock()
	if !need {
		return nil
	}
	from, end := h.releaseRange()
	ctx, cancel := h.opCtx(opTimeout)
	resp, err := h.client.Get(ctx, from, clientv3.WithRange(end))
	cancel()
	if err != nil {
		h.mu.Lock()
		h.needList = true
		h.mu.Unlock()
		return fmt.Errorf("list failsafe releases %s: %w", h.releaseDir(), err)
	}
	for _, kvp := range resp.Kvs {
		h.dispatch(kvp, false)
	}
	return nil
}

// onReleases hands out the releases of one response of the release watch
// w, or notes its failure (err set); h's client's releaseHub calls it. A
// failed watch is stopped, to be opened again by the bookkeeping after a
// while (and the releases listed then). A response of a watch stopped
// meanwhile is dropped: the releases are listed once the next one is up.
func (h *Holds) onReleases(w *hubWatch, events []*mvccpb.Event, err error) {
	h.wmu.Lock()
	if h.rw.w != w {
		h.wmu.Unlock()
		return
	}
	if err == nil {
		h.rw.wait = 0
		h.wmu.Unlock()
		h.releaseEvents.Add(int64(len(events)))
		for _, ev := range events {
			if ev.Type == mvccpb.PUT {
				h.dispatch(ev.Kv, true)
			}
		}
		return
	}
	h.stopReleaseWatch()
	closed := h.err() != nil
	if !closed {
		h.rw.failed()
	}
	wait := h.rw.wait
	h.wmu.Unlock()
	h.watchStopped()
	if closed {
		h.poke() // the bookkeeping stops (its client or h is closed)
		return
	}
	h.log.Warn("watch of failsafe releases failed; retrying", zap.String("prefix", h.releaseDir()),
		zap.Duration("in", wait), zap.Error(err))
	h.poke() // the bookkeeping opens the watch again when it is time
}

// dispatch hands a release to the hold it names. A release of a hold that
// has no record is logged and removed; in the background when background
// is set (the releaseHub calls it: one slow request must not hold back
// the releases of the other Holds of the client).
func (h *Holds) dispatch(kvp *mvccpb.KeyValue, background bool) {
	key := string(kvp.Key)
	id := strings.TrimPrefix(key, ReleaseKey(h.prefix, ""))
	if !h.ownsID(id) {
		return // another component's, whose name begins with this one's
	}
	var rel ReleaseRecord
	by := string(kvp.Value)
	if json.Unmarshal(kvp.Value, &rel) == nil {
		by = rel.ReleasedBy
	}
	h.mu.Lock()
	hd := h.live.Value(id)
	h.mu.Unlock()
	if hd != nil {
		h.log.Info("failsafe release received", zap.String("hold", id), zap.String("released_by", by),
			zap.Int64("revision", kvp.ModRevision))
		hd.fire(by, kvp.ModRevision)
		return
	}
	if background {
		go h.removeUnknown(id, by, kvp)
		return
	}
	h.removeUnknown(id, by, kvp)
}

// removeUnknown removes the release kvp of a hold id not in effect here,
// released by by. Only when no hold record exists: the hold may belong to
// another process of a component of a similar name, or be taken up by a
// restarted process.
func (h *Holds) removeUnknown(id, by string, kvp *mvccpb.KeyValue) {
	key := string(kvp.Key)
	holdKey := HoldKey(h.prefix, id)
	octx, cancel := h.opCtx(opTimeout)
	defer cancel()
	resp, err := h.client.Txn(octx).
		If(clientv3.Compare(clientv3.CreateRevision(holdKey), "=", 0),
			clientv3.Compare(clientv3.ModRevision(key), "=", kvp.ModRevision)).
		Then(clientv3.OpDelete(key)).
		Commit()
	switch {
	case err != nil:
		h.log.Warn("check release of an unknown hold", zap.String("key", key), zap.Error(err))
	case resp.Succeeded:
		h.log.Warn("release of an unknown hold removed", zap.String("key", key),
			zap.String("hold", id), zap.String("released_by", by))
	}
}
