package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/status"
	"github.com/p2kit/p2kit/storetest"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// exe runs the built p2ctl binary against the fleet with stdin and extra
// environment, without --actor (so the actor comes from $USER).
func (f *fleet) exe(stdin string, env []string, args ...string) result {
	f.t.Helper()
	cmd := exec.Command(binary(f.t), append([]string{"--etcd", strings.Join(f.c.Endpoints(), ",")}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(f.t, err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// exeOK runs the binary and requires success.
func (f *fleet) exeOK(stdin string, args ...string) string {
	f.t.Helper()
	r := f.exe(stdin, nil, args...)
	require.Equal(f.t, 0, r.code, "p2ctl %v: stderr %q stdout %q", args, r.stderr, r.stdout)
	return r.stdout
}

var revisionRE = regexp.MustCompile(`mod_revision: (\d+)`)

func modRevision(t *testing.T, yamlDoc string) int64 {
	t.Helper()
	m := revisionRE.FindStringSubmatch(yamlDoc)
	require.NotNil(t, m, yamlDoc)
	n, err := strconv.ParseInt(m[1], 10, 64)
	require.NoError(t, err)
	return n
}

func TestDay2ExitCodes(t *testing.T) {
	f := newFleet(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"rc", "lst"}, `rc: unknown command "lst"`},
		{[]string{"failsafe", "relase", "X"}, `failsafe: unknown command "relase" (did you mean "release"?)`},
		{[]string{"labels", "st", "node", "x"}, `labels: unknown command "st"`},
		{[]string{"rc", "scale", "x", "-1"}, `replicas "-1": the count must be a non-negative number`},
		{[]string{"get", "rc"}, "get rc: accepts 1 arg(s), received 0"},
		{[]string{"list", "rc", "--bogus"}, "list rc: unknown flag: --bogus"},
		{[]string{"nosuch"}, `unknown command "nosuch"`},
	} {
		requireFailure(t, f.exe("", nil, c.args...), c.want)
	}
	r := f.exe("", nil, "rc")
	require.Equal(t, 0, r.code, "a group without arguments prints its help")
	require.Contains(t, r.stdout, "scale")
}

func TestDay2GetApplyRoundTrip(t *testing.T) {
	f := newFleet(t)
	f.ok("apply", "rc", "-f", f.write("v1.yaml", rcYAML("hello-v1", 1, 2)))

	out := f.exeOK("", "get", "rc", "hello-v1", "-o", "yaml")
	require.True(t, strings.HasPrefix(out, "kind: rc\nmetadata:\n  key: /p2/replication_controllers/hello-v1\n"), out)
	require.Contains(t, out, "create_revision: ")
	rev := modRevision(t, out)
	require.Contains(t, f.exeOK(out, "apply", "-f", "-"), "hello-v1 unchanged (revision "+strconv.FormatInt(rev, 10)+")")
	require.Contains(t, f.exeOK(out, "apply", "rc", "-f", "-"), "unchanged")
	require.Equal(t, rev, modRevision(t, f.ok("get", "rc", "hello-v1", "-o", "yaml")), "a no-op writes nothing")

	js := f.exeOK("", "get", "rc", "hello-v1", "-o", "json")
	require.Contains(t, f.exeOK(js, "apply", "-f", "-"), "unchanged")

	// An edited copy applies as a compare-and-swap on its mod_revision.
	edited := strings.Replace(out, "replicas_desired: 2", "replicas_desired: 3", 1)
	require.Contains(t, f.exeOK(edited, "apply", "-f", "-"), "configured")
	r := f.exe(edited, nil, "apply", "-f", "-")
	line := requireFailure(t, r, "/p2/replication_controllers/hello-v1: changed since revision "+strconv.FormatInt(rev, 10))
	require.Contains(t, line, "conflict")

	// The kind in the file must agree with the command's.
	requireFailure(t, f.exe(out, nil, "apply", "ds", "-f", "-"), `kind "rc", but the command applies daemonset`)
	requireFailure(t, f.exe(rcYAML("x", 1, 1), nil, "apply", "-f", "-"), "no kind")

	// Aliases of kinds, and multi-document files.
	multi := "kind: ReplicationController\n" + rcYAML("a", 1, 1) + "---\nkind: replication_controller\n" + rcYAML("b", 1, 1)
	got := f.exeOK(multi, "apply", "-f", "-")
	require.Contains(t, got, "replication_controllers/a created")
	require.Contains(t, got, "replication_controllers/b created")
	list := f.exeOK("", "list", "rc", "-o", "yaml")
	require.Equal(t, 3, strings.Count(list, "kind: rc"))
	applied := f.exeOK(list, "apply", "-f", "-")
	require.Equal(t, 3, strings.Count(applied, "unchanged"), applied)

	// Pod manifests carry their node in metadata.
	f.ok("apply", "intent", "--node", "web1", "-f", f.write("m.yaml", manifestYAML("hello", 1, 0)))
	doc := f.exeOK("", "get", "intent", "web1", "hello", "-o", "yaml")
	require.Contains(t, doc, "  node: web1\n")
	require.Contains(t, f.exeOK(doc, "apply", "-f", "-"), "/p2/intent/web1/hello unchanged")
	requireFailure(t, f.exe(doc, nil, "apply", "-f", "-", "--node", "web2"), `metadata.node "web1" disagrees with --node "web2"`)
}

func TestDay2DecodeErrors(t *testing.T) {
	f := newFleet(t)
	file := f.write("typos.yaml", "kind: rc\n"+rcYAML("hello-v1", 1, 2)+"replica_desired: 3\nnode_selectr: x=y\n")
	line := f.fails("unknown field", "apply", "-f", file)
	require.Contains(t, line, file+`:12: unknown field "replica_desired" (did you mean "replicas_desired"?)`)
	require.Contains(t, line, file+`:13: unknown field "node_selectr" (did you mean "node_selector"?)`)

	nested := f.write("nested.yaml", "kind: rc\n"+strings.Replace(rcYAML("hello-v1", 1, 2), "    digest:", "    digets:", 1))
	f.fails(nested+`:9: unknown field "manifest.launchables.app.digets" (did you mean "digest"?)`, "apply", "-f", nested)

	badMeta := f.write("meta.yaml", "kind: rc\nmetadata:\n  mod_revison: 3\n"+rcYAML("hello-v1", 1, 2))
	f.fails(badMeta+`:3: unknown field "metadata.mod_revison" (did you mean "mod_revision"?)`, "apply", "-f", badMeta)

	typed := f.write("typed.yaml", strings.Replace(rcYAML("hello-v1", 1, 2), "replicas_desired: 2", "replicas_desired: two", 1))
	line = f.fails(typed+":10: ", "apply", "rc", "-f", typed)
	require.NotContains(t, line, "json")

	syntax := f.write("syntax.yaml", "id: x\n  bad: [\n")
	line = f.fails("invalid YAML", "apply", "rc", "-f", syntax)
	require.NotContains(t, strings.ToLower(line), "json")
	require.Contains(t, line, syntax+": invalid YAML: line ")

	f.fails(`kind "widget": want one of`, "apply", "-f", f.write("k.yaml", "kind: widget\nid: x\n"))
}

func TestDay2AuditActorFromUser(t *testing.T) {
	f := newFleet(t)
	alice := []string{"USER=alice"}
	m := f.write("m.yaml", manifestYAML("hello", 1, 0))
	r := f.exe("", alice, "apply", "intent", "--node", "web1", "-f", m)
	require.Equal(t, 0, r.code, r.stderr)
	m2 := f.write("m2.yaml", strings.Replace(manifestYAML("hello", 1, 0), "hello_1", "hello_2", 1))
	r = f.exe("", alice, "apply", "intent", "--node", "web1", "-f", m2)
	require.Equal(t, 0, r.code, r.stderr)
	r = f.exe("", alice, "labels", "set", "node", "web1", "env=prod")
	require.Equal(t, 0, r.code, r.stderr)
	r = f.exe("", []string{"USER="}, "labels", "set", "node", "web1", "tier=web")
	require.Equal(t, 0, r.code, r.stderr)
	r = f.exe("", alice, "--actor", "bob", "delete", "intent", "web1", "hello")
	require.Equal(t, 0, r.code, r.stderr)

	out := f.exeOK("", "audit", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 6, out)
	require.Regexp(t, `delete\s+intent\s+web1/hello\s+bob`, lines[1], "newest first")
	require.Regexp(t, `update\s+labels\s+node/web1\s+p2ctl`, lines[2])
	require.Regexp(t, `create\s+labels\s+node/web1\s+alice`, lines[3])
	require.Regexp(t, `update\s+intent\s+web1/hello\s+alice`, lines[4])
	require.Regexp(t, `create\s+intent\s+web1/hello\s+alice`, lines[5])

	tail := f.exeOK("", "audit", "list", "--tail", "1")
	require.Contains(t, tail, "web1/hello")
	require.Equal(t, 2, strings.Count(tail, "\n"))
	byEntity := f.exeOK("", "audit", "list", "--entity", "labels")
	require.Equal(t, 3, strings.Count(byEntity, "\n"), byEntity)
	require.NotContains(t, byEntity, "intent")
	byID := f.exeOK("", "audit", "list", "--id", "web1/hello", "--entity", "intent", "--tail", "5")
	require.Equal(t, 4, strings.Count(byID, "\n"), byID)

	// Each record is written in its change's transaction.
	obj, err := labels.New(f.cli).Get(f.ctx(), labels.Node, "web1")
	require.NoError(t, err)
	var recs []struct {
		ModRevision int64 `json:"mod_revision"`
		Value       struct {
			Actor string `json:"actor"`
		} `json:"value"`
	}
	require.NoError(t, json.Unmarshal([]byte(f.exeOK("", "audit", "list", "--entity", "labels", "--tail", "1", "-o", "json")), &recs))
	require.Len(t, recs, 1)
	require.Equal(t, obj.ModRevision, recs[0].ModRevision)
}

func TestDay2Labels(t *testing.T) {
	f := newFleet(t)
	f.fails(`node "web9" has no intent and no labels`, "labels", "set", "node", "web9", "env=prod")
	f.fails("not found", "labels", "get", "node", "web9")
	f.ok("labels", "set", "node", "web9", "env=prod", "--force")
	f.ok("labels", "set", "node", "web9", "tier=web") // it has labels now
	require.Contains(t, f.ok("labels", "delete", "node", "web9"), "/p2/labels/node/web9 deleted")
	f.fails("not found", "labels", "get", "node", "web9")
	f.fails("not found", "labels", "delete", "node", "web9")
	require.Regexp(t, `delete\s+labels\s+node/web9\s+alice`, f.ok("audit", "list", "--tail", "1"))
}

// schedule writes what the RC farm would for one pod: its intent and its
// pod labels naming the owner, and optionally a pod status record.
func (f *fleet) schedule(node, ownerLabel, owner string, health status.Health) {
	f.t.Helper()
	ctx := f.ctx()
	_, err := intent.NewStore(f.cli).Set(ctx, node, storetest.Manifest("hello"))
	require.NoError(f.t, err)
	_, err = labels.New(f.cli).Put(ctx, labels.Pod, node+"/hello", labels.Set{ownerLabel: owner, "pod_id": "hello"})
	require.NoError(f.t, err)
	if health != "" {
		_, err = status.NewPodStatusStore(f.cli).Set(ctx, node, "hello", &status.PodStatus{
			Status: status.Launched, Health: health, ManifestDigest: strings.Repeat("ab", 32), UpdatedAt: time.Now()})
		require.NoError(f.t, err)
	}
}

func TestDay2ListColumnsAndSafeDelete(t *testing.T) {
	f := newFleet(t)
	f.ok("apply", "rc", "-f", f.write("rc.yaml", rcYAML("hello-v1", 1, 3)))
	f.schedule("web1", "replication_controller_id", "hello-v1", status.Passing)
	f.schedule("web2", "replication_controller_id", "hello-v1", status.Critical)
	out := f.ok("list", "rc")
	require.Regexp(t, `ID\s+POD\s+DESIRED\s+CURRENT\s+HEALTHY`, out)
	require.Regexp(t, `hello-v1\s+hello\s+3\s+2\s+1\s+env=prod`, out)

	ds := `{"kind":"ds","id":"edge","pod_id":"hello","manifest":` + manifestJSON(t) + `,"node_selector":"role=edge","min_health":1,"timeout":"30s","rate_limit_interval":"1s"}`
	f.ok("apply", "-f", f.write("ds.json", ds))
	f.ok("labels", "set", "node", "edge1", "role=edge", "--force")
	f.ok("labels", "set", "node", "edge2", "role=edge", "--force")
	f.schedule("edge1", "daemon_set_id", "edge", status.Passing)
	require.Regexp(t, `edge\s+hello\s+2\s+1\s+1\s+role=edge`, f.ok("list", "ds"))

	// A deleted RC leaves its pods scheduled, and says so.
	out = f.ok("delete", "rc", "hello-v1", "--force")
	require.Contains(t, out, "rc/hello-v1 deleted")
	require.Contains(t, out, "2 pods of rc/hello-v1 stay scheduled")
	require.Contains(t, out, "  web1/hello\n  web2/hello\n")
	_, err := intent.NewStore(f.cli).Get(f.ctx(), "web1", "hello")
	require.NoError(t, err)

	// --cascade unschedules them, one audited transaction each.
	out = f.ok("delete", "ds", "edge", "--cascade", "--cascade-every", "10ms")
	require.Contains(t, out, "unscheduled edge1/hello")
	_, err = intent.NewStore(f.cli).Get(f.ctx(), "edge1", "hello")
	require.Error(t, err)
	_, err = labels.New(f.cli).Get(f.ctx(), labels.Pod, "edge1/hello")
	require.Error(t, err)
	require.Regexp(t, `delete\s+intent\s+edge1/hello\s+alice`, f.ok("audit", "list", "--tail", "1"))
}

func TestDay2CascadeIsPaced(t *testing.T) {
	f := newFleet(t)
	f.ok("apply", "rc", "-f", f.write("rc.yaml", rcYAML("hello-v1", 1, 0)))
	for _, n := range []string{"web1", "web2", "web3", "web4"} {
		f.schedule(n, "replication_controller_id", "hello-v1", "")
	}
	start := time.Now()
	out := f.ok("delete", "rc", "hello-v1", "--cascade", "--cascade-every", "300ms", "--cascade-burst", "1")
	require.Equal(t, 4, strings.Count(out, "unscheduled "), out)
	// Three pauses of the limiter at the least: a lower bound, not a speed.
	require.GreaterOrEqual(t, time.Since(start), 800*time.Millisecond)
	l, err := intent.NewStore(f.cli).ListAll(f.ctx())
	require.NoError(t, err)
	require.Empty(t, l.Items)
}

// putHold writes a hold record as a guard would, with the fields guards
// are adding (keys, creates, mutates, stage).
func (f *fleet) putHold(id, component string, keys []string) {
	f.t.Helper()
	rec := map[string]any{"id": id, "component": component, "guard": "max-deletes", "reason": "too many deletes",
		"revision": 7, "deletes": len(keys), "creates": 1, "mutates": 0, "total": 10, "stage": "held",
		"keys": keys, "time": time.Now().UTC()}
	data, err := json.Marshal(rec)
	require.NoError(f.t, err)
	_, err = f.cli.Put(f.ctx(), failsafe.HoldKey("/p2", id), string(data))
	require.NoError(f.t, err)
}

func TestDay2FailsafeListAndRelease(t *testing.T) {
	f := newFleet(t)
	f.putHold("20261205-101010.000000000-rc-farm-max-deletes-aaaaaa", "rc-farm", []string{"/p2/replication_controllers/a", "/p2/replication_controllers/b"})
	f.putHold("20261205-101011.000000000-preparer.web1-max-deletes-bbbbbb", "preparer/web1", []string{"/p2/intent/web1/x"})
	f.putHold("20261205-101012.000000000-preparer.web1-not-empty-cccccc", "preparer/web1", []string{"/p2/intent/web1/y"})

	out := f.ok("failsafe", "list")
	require.Regexp(t, `rc-farm\s+max-deletes\s+held\s+2/10\s+1\s+0\s+7\s+.*/p2/replication_controllers/a, /p2/replication_controllers/b`, out)
	var holds []heldRecord
	require.NoError(t, json.Unmarshal([]byte(f.ok("failsafe", "list", "-o", "json")), &holds))
	require.Len(t, holds, 3)
	require.Equal(t, []string{"/p2/intent/web1/x"}, holds[1].Keys)

	// Without a terminal and without --yes nothing is released.
	r := f.exe("y\n", nil, "failsafe", "release", "rc-farm")
	requireFailure(t, r, "not a terminal: give --yes")
	require.Contains(t, r.stdout, "delivers 2 deletes, 1 creates, 0 mutates of 10 keys: /p2/replication_controllers/a")
	resp, err := f.cli.Get(f.ctx(), failsafe.ReleaseKey("/p2", ""), clientv3.WithPrefix())
	require.NoError(t, err)
	require.Zero(t, resp.Count)

	// A component releases every hold of it; a prefix one hold.
	out = f.ok("failsafe", "release", "preparer/web1", "--yes")
	require.Equal(t, 2, strings.Count(out, "released by alice"), out)
	f.fails("starts 3 hold ids", "failsafe", "release", "20261205-10101", "--yes")
	require.Contains(t, f.ok("failsafe", "release", "20261205-101010", "--yes"), "rc-farm-max-deletes-aaaaaa released by alice")
	resp, err = f.cli.Get(f.ctx(), failsafe.ReleaseKey("/p2", ""), clientv3.WithPrefix())
	require.NoError(t, err)
	require.EqualValues(t, 3, resp.Count)
	require.Regexp(t, `release\s+failsafe_holds\s+20261205-101010.000000000-rc-farm-max-deletes-aaaaaa\s+alice`, f.ok("audit", "list", "--tail", "1"))
	require.Regexp(t, `yes`, f.ok("failsafe", "list"))

	// A hold that ended meanwhile is not released: no release key, no audit.
	f.putHold("20261205-101013.000000000-x-not-empty-dddddd", "x", nil)
	h := heldRecord{ID: "20261205-101013.000000000-x-not-empty-dddddd"}
	_, err = f.cli.Delete(f.ctx(), failsafe.HoldKey("/p2", h.ID))
	require.NoError(t, err)
	a := &app{prefix: "/p2", actor: "alice", cli: f.cli}
	require.ErrorIs(t, a.releaseHold(f.ctx(), f.cli, h), kv.ErrNotFound)
	resp, err = f.cli.Get(f.ctx(), failsafe.ReleaseKey("/p2", h.ID))
	require.NoError(t, err)
	require.Zero(t, resp.Count)
	f.fails("no hold has id, id prefix or component", "failsafe", "release", "nosuch", "--yes")
}

func TestDay2ListSelectorAndWatch(t *testing.T) {
	f := newFleet(t)
	for _, id := range []string{"a", "b", "c"} {
		f.ok("apply", "rc", "-f", f.write(id+".yaml", rcYAML(id, 1, 1)))
	}
	f.ok("labels", "set", "rc", "a", "team=core")
	f.ok("labels", "set", "rc", "b", "team=edge")
	out := f.ok("list", "rc", "-l", "team=core")
	require.Contains(t, out, "\na ")
	require.NotContains(t, out, "\nb ")
	require.NotContains(t, out, "\nc ")
	out = f.ok("list", "rc", "-l", "team", "-o", "json")
	require.Equal(t, 2, strings.Count(out, `"kind": "rc"`), out)
	f.fails(`-l "team in (x"`, "list", "rc", "-l", "team in (x")

	// --watch: the list, then one line per change, until interrupted.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), append(f.flags(), "list", "rc", "--watch", "-l", "team=core")...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l := <-lines:
			return l
		case <-ctx.Done():
			t.Fatalf("no line; stderr %q", stderr.String())
			return ""
		}
	}
	require.Regexp(t, `^ID\s+POD\s+DESIRED`, next())
	require.Regexp(t, `^a\s+hello\s+1\s`, next())
	f.ok("rc", "scale", "b", "0") // not selected: no line
	f.ok("rc", "scale", "a", "2")
	require.Regexp(t, `^mutate\s+/p2/replication_controllers/a .*desired=2`, next())
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait(), "stderr %q", stderr.String())
	require.Empty(t, stderr.String())
}
