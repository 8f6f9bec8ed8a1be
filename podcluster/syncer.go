package podcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Syncer pushes pod clusters to something outside p2kit: a load balancer,
// a service registry. The farm calls SyncCluster when a cluster or its
// members change and DeleteCluster once when a cluster is deleted; both
// must be idempotent, since a failure is retried with backoff.
type Syncer interface {
	// Type names the syncer, a valid id ("file"); its sync records live at
	// /p2/status/pod_clusters/<id>/<type>.
	Type() string
	// SyncCluster makes the syncer's copy of cluster hold exactly pods,
	// sorted by node.
	SyncCluster(ctx context.Context, cluster *PodCluster, pods []Member) error
	// DeleteCluster removes the syncer's copy of cluster id.
	DeleteCluster(ctx context.Context, id string) error
}

// Member is one pod of a cluster.
type Member struct {
	Node  string `json:"node"`
	PodID string `json:"pod_id"`
	// Healthy: the pod runs the version it has installed and its health
	// check passes.
	Healthy bool `json:"healthy"`
}

// SyncRecord is the farm's record of the last successful sync of a cluster
// with one syncer, at /p2/status/pod_clusters/<id>/<syncer-type>. A cluster
// whose record's digest matches its current cluster and members is not
// synced again, across restarts; deleting the record makes the farm sync
// the cluster again.
type SyncRecord struct {
	// Digest is SyncDigest of what was synced.
	Digest   string    `json:"digest"`
	Members  int       `json:"members"`
	Healthy  int       `json:"healthy"`
	SyncedAt time.Time `json:"synced_at"`
}

// Validate checks the record's required fields.
func (r *SyncRecord) Validate() error {
	var errs []error
	if r.Digest == "" {
		errs = append(errs, errors.New("digest: required"))
	}
	if r.SyncedAt.IsZero() {
		errs = append(errs, errors.New("synced_at: required"))
	}
	return errors.Join(errs...)
}

// SyncDigest is the SHA-256 of the canonical JSON (sorted keys) of a
// cluster and its members sorted by node and pod.
func SyncDigest(c *PodCluster, members []Member) (string, error) {
	ms := append([]Member{}, members...)
	sortMembers(ms)
	b, err := json.Marshal(struct {
		Cluster *PodCluster `json:"cluster"`
		Members []Member    `json:"members"`
	}{c, ms})
	if err != nil {
		return "", fmt.Errorf("pod cluster %s: digest: %w", c.ID, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func sortMembers(ms []Member) {
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].Node != ms[j].Node {
			return ms[i].Node < ms[j].Node
		}
		return ms[i].PodID < ms[j].PodID
	})
}

// FileSyncer writes each cluster to <dir>/<id>.json: the stand-in for a
// load balancer (the controller's --pc-syncer file:<dir>).
type FileSyncer struct {
	dir string
}

// NewFileSyncer returns a syncer writing into dir, created when needed.
func NewFileSyncer(dir string) *FileSyncer { return &FileSyncer{dir: dir} }

// ParseSyncer returns the syncer a flag names: "file:<dir>".
func ParseSyncer(spec string) (Syncer, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "file":
		if arg == "" {
			return nil, fmt.Errorf("pod cluster syncer %q: want file:<dir>", spec)
		}
		return NewFileSyncer(arg), nil
	}
	return nil, fmt.Errorf("pod cluster syncer %q: unknown type %q (want file:<dir>)", spec, kind)
}

// FileCluster is the content of a FileSyncer's file.
type FileCluster struct {
	ID               string         `json:"id"`
	PodID            string         `json:"pod_id"`
	AvailabilityZone string         `json:"availability_zone"`
	Name             string         `json:"name"`
	Annotations      map[string]any `json:"annotations,omitempty"`
	Members          []Member       `json:"members"`
}

// Type implements Syncer: "file".
func (s *FileSyncer) Type() string { return "file" }

// Path is the file of cluster id.
func (s *FileSyncer) Path(id string) string { return filepath.Join(s.dir, id+".json") }

// SyncCluster implements Syncer: it replaces the cluster's file atomically
// (a temporary file renamed over it).
func (s *FileSyncer) SyncCluster(_ context.Context, c *PodCluster, pods []Member) error {
	ms := append([]Member{}, pods...)
	sortMembers(ms)
	b, err := json.MarshalIndent(FileCluster{
		ID: c.ID, PodID: c.PodID, AvailabilityZone: c.AvailabilityZone, Name: c.Name,
		Annotations: c.Annotations, Members: ms,
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("file syncer: cluster %s: %w", c.ID, err)
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("file syncer: cluster %s: %w", c.ID, err)
	}
	tmp, err := os.CreateTemp(s.dir, "."+c.ID+".json.tmp-*")
	if err != nil {
		return fmt.Errorf("file syncer: cluster %s: %w", c.ID, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("file syncer: cluster %s: %w", c.ID, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("file syncer: cluster %s: %w", c.ID, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("file syncer: cluster %s: %w", c.ID, err)
	}
	if err := os.Rename(tmp.Name(), s.Path(c.ID)); err != nil {
		return fmt.Errorf("file syncer: cluster %s: %w", c.ID, err)
	}
	return nil
}

// DeleteCluster implements Syncer: it removes the cluster's file; a
// missing file is not an error.
func (s *FileSyncer) DeleteCluster(_ context.Context, id string) error {
	if err := os.Remove(s.Path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("file syncer: cluster %s: %w", id, err)
	}
	return nil
}

// ReadFile reads a cluster file a FileSyncer wrote.
func ReadFile(path string) (*FileCluster, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var fc FileCluster
	if err := json.Unmarshal(b, &fc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &fc, nil
}
