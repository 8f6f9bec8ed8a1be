package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/p2kit/p2kit/status"
)

// Names of the files in a pod's processes directory and in each entry point's directory.
const (
	processesDir  = "processes"
	logsDir       = "logs"
	podFile       = "pod.json"
	specFile      = "spec.json"
	supervisorPID = "supervisor.pid"
	appPID        = "app.pid"
	restartsFile  = "restarts"
	lastExitFile  = "last_exit"
	doneFile      = "done"
	stopFile      = "stop"
	supervisorLog = "supervisor.log"
	tmpSuffix     = ".tmp"
	filePerm      = 0o644
	dirPerm       = 0o755
	logPerm       = 0o640
)

// podRecord is processes/pod.json: what Launch last started for the pod.
type podRecord struct {
	Pod     string        `json:"pod"`
	Digest  string        `json:"manifest_digest"`
	Grace   time.Duration `json:"grace_ns"`
	Entries []string      `json:"entries"` // entry directory names
}

// spec is an entry point directory's spec.json: everything its supervisor needs.
type spec struct {
	Pod           string        `json:"pod"`
	Launchable    string        `json:"launchable"`
	EntryPoint    string        `json:"entry_point"`
	Digest        string        `json:"manifest_digest"`
	Path          string        `json:"path"` // absolute path of the executable
	Dir           string        `json:"dir"`  // working directory
	Env           []string      `json:"env"`
	Stdout        string        `json:"stdout"`
	Stderr        string        `json:"stderr"`
	RestartPolicy string        `json:"restart_policy"`
	MinBackoff    time.Duration `json:"min_backoff_ns"`
	MaxBackoff    time.Duration `json:"max_backoff_ns"`
	Grace         time.Duration `json:"grace_ns"`
	Credential    *credential   `json:"credential,omitempty"`
}

// credential is the user an app runs as when the manifest names one other than the launcher's.
type credential struct {
	User   string   `json:"user"`
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
}

// label names the entry point in logs and errors: "pod/launchable/entry".
func (s *spec) label() string { return s.Pod + "/" + s.Launchable + "/" + s.EntryPoint }

// pidRecord is the content of a pid file: the pid and the process's start time, and for an
// app the session it runs in.
type pidRecord struct {
	pid     int
	start   uint64
	session int
}

func (r pidRecord) String() string {
	s := strconv.Itoa(r.pid) + " " + strconv.FormatUint(r.start, 10)
	if r.session > 0 {
		s += " " + strconv.Itoa(r.session)
	}
	return s + "\n"
}

func parsePidRecord(b []byte) (pidRecord, error) {
	f := strings.Fields(string(b))
	if len(f) < 2 || len(f) > 3 {
		return pidRecord{}, fmt.Errorf("want \"<pid> <start time> [<session>]\", got %q", b)
	}
	var r pidRecord
	var err error
	if r.pid, err = strconv.Atoi(f[0]); err != nil || r.pid <= 0 {
		return pidRecord{}, fmt.Errorf("bad pid %q", f[0])
	}
	if r.start, err = strconv.ParseUint(f[1], 10, 64); err != nil {
		return pidRecord{}, fmt.Errorf("bad start time %q", f[1])
	}
	if len(f) == 3 {
		if r.session, err = strconv.Atoi(f[2]); err != nil {
			return pidRecord{}, fmt.Errorf("bad session %q", f[2])
		}
	}
	return r, nil
}

// readPid reads a pid file; a missing file is the zero record and no error.
func readPid(path string) (pidRecord, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return pidRecord{}, nil
	}
	if err != nil {
		return pidRecord{}, err
	}
	r, err := parsePidRecord(b)
	if err != nil {
		return pidRecord{}, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// recordOf returns the pid record of the running process pid.
func recordOf(pid int) (pidRecord, error) {
	st, err := readStat(pid)
	if err != nil {
		return pidRecord{}, err
	}
	return pidRecord{pid: pid, start: st.start, session: st.session}, nil
}

// writeAtomic writes a file by renaming a complete temporary file over it, so a reader (or a
// crash) never sees half a file.
func writeAtomic(path string, data []byte) error {
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(path, append(b, '\n'))
}

// readJSON reads a JSON file into v; a missing file reports fs.ErrNotExist.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// readRestarts reads an entry directory's restart count; missing is zero.
func readRestarts(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, restartsFile))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// readLastExit reads an entry directory's last exit; nil when the app never exited.
func readLastExit(dir string) *status.Exit {
	var e status.Exit
	if err := readJSON(filepath.Join(dir, lastExitFile), &e); err != nil {
		return nil
	}
	return &e
}

// entryName is the directory (and log file) name of an entry point: its launchable, "__" and
// the entry point with every byte other than ASCII letters, digits, '.' and '-' turned into
// '_'. Launch refuses a manifest in which two entry points get the same name.
func entryName(launchable, entryPoint string) string {
	return launchable + "__" + sanitize(entryPoint)
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// logPaths returns the stdout and stderr log files of an entry point.
func logPaths(podDir, launchable, entryPoint string) (stdout, stderr string) {
	base := filepath.Join(podDir, logsDir, launchable+"-"+sanitize(entryPoint))
	return base + ".stdout.log", base + ".stderr.log"
}
