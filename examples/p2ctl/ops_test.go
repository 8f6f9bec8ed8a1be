package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

type item struct {
	V int `json:"v"`
}

func TestFailsafeListAndRelease(t *testing.T) {
	f := newFleet(t)
	ctx := f.ctx()
	store := kv.New[item](f.cli, "/p2/things")
	for _, n := range []string{"a", "b", "c"} {
		_, err := store.Put(ctx, n, &item{V: 1})
		require.NoError(t, err)
	}
	h := failsafe.NewHolds(f.cli, "test/consumer")
	src := failsafe.Chain[item](store.Watch(ctx), failsafe.NotEmpty[item](h))
	_, err := src.Next(ctx)
	require.NoError(t, err)

	require.Equal(t, "ID  COMPONENT  GUARD  STAGE  DELETES  CREATES  MUTATES  REVISION  SINCE  RELEASED  KEYS  REASON\n", f.ok("failsafe", "list"))
	_, err = f.cli.Delete(ctx, "/p2/things/", clientv3.WithPrefix())
	require.NoError(t, err)
	next := make(chan *kv.Batch[item], 1)
	go func() {
		b, err := src.Next(ctx)
		if err == nil {
			next <- b
		}
	}()

	var holds []heldRecord
	require.Eventually(t, func() bool {
		r := f.run("failsafe", "list", "-o", "json")
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &holds) == nil && len(holds) == 1
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "test/consumer", holds[0].Component)
	require.Equal(t, 3, holds[0].Deletes)
	require.False(t, holds[0].Released)
	require.Regexp(t, holds[0].ID+`\s+test/consumer\s+not-empty\s+\S+\s+3/3`, f.ok("failsafe", "list"))

	f.fails("not found", "failsafe", "release", "no-such-hold")
	require.Contains(t, f.ok("failsafe", "release", holds[0].ID, "--yes"), "released by alice")
	select {
	case b := <-next:
		require.True(t, b.Released)
		require.Equal(t, 3, b.Deletes())
	case <-time.After(10 * time.Second):
		t.Fatal("the release did not deliver the held batch")
	}
	require.Eventually(t, func() bool {
		return !strings.Contains(f.ok("failsafe", "list"), holds[0].ID)
	}, 10*time.Second, 20*time.Millisecond, "the guard removes the hold once delivered")
}

func TestRollStartAndStatus(t *testing.T) {
	f := newFleet(t)
	ctx := f.ctx()
	f.ok("apply", "rc", "-f", f.write("v1.yaml", rcYAML("hello-v1", 1, 2)))
	f.ok("apply", "rc", "-f", f.write("v2.yaml", rcYAML("hello-v2", 2, 0)))

	// web1 runs v1, healthy; web2 has v1 intended but no record yet.
	m, err := manifest.Decode([]byte(manifestYAML("hello", 1, 0)))
	require.NoError(t, err)
	digest, err := m.Digest()
	require.NoError(t, err)
	mf := f.write("hello-v1.yaml", manifestYAML("hello", 1, 0))
	f.ok("apply", "intent", "--node", "web1", "-f", mf)
	f.ok("apply", "intent", "--node", "web2", "-f", mf)
	_, err = status.NewPodStatusStore(f.cli).Set(ctx, "web1", "hello", &status.PodStatus{
		Status: status.Launched, Health: status.Passing, ManifestDigest: digest, UpdatedAt: time.Now(),
	})
	require.NoError(t, err)

	f.fails("required flag", "roll", "start", "hello-v2", "--from", "hello-v1")
	f.fails("minimum_replicas", "roll", "start", "hello-v2", "--from", "hello-v1", "--desired", "2", "--minimum", "3")
	f.fails("not found", "roll", "start", "hello-v3", "--from", "hello-v1", "--desired", "2", "--minimum", "1")
	out := f.ok("roll", "start", "hello-v2", "--from", "hello-v1", "--desired", "2", "--minimum", "1", "--roll-delay", "10s", "--deadline", "10m", "--force")
	require.Contains(t, out, "roll/hello-v2 started: hello-v1 -> hello-v2")
	require.Regexp(t, `hello-v2\s+hello-v1\s+hello-v2\s+2\s+1\s+false\s+10m0s`, f.ok("get", "roll", "hello-v2"))

	out = f.ok("roll", "status", "hello-v2")
	require.Contains(t, out, "hello-v1: 2 replicas, 2 scheduled, 1 healthy")
	require.Contains(t, out, "hello-v2: 0 replicas, 0 scheduled, 0 healthy")

	// The roll farm's record, read as generic JSON.
	recKey := "/p2/status/rolls/hello-v2/roll-farm"
	_, err = f.cli.Put(ctx, recKey, `{"phase":"rolling","old_rc":"hello-v1","new_rc":"hello-v2","new_healthy":1,"message":"step 1"}`)
	require.NoError(t, err)
	out = f.ok("roll", "status", "hello-v2")
	require.Regexp(t, `PHASE\s+rolling`, out)
	require.Regexp(t, `MESSAGE\s+step 1`, out)
	var rep rollReport
	require.NoError(t, json.Unmarshal([]byte(f.ok("roll", "status", "hello-v2", "-o", "json")), &rep))
	require.Equal(t, "rolling", rep.Phase)
	require.Equal(t, 1, rep.Old.Healthy)

	// --follow draws progress until the farm says done.
	done := make(chan result, 1)
	var progress syncBuffer
	go func() {
		var errb strings.Builder
		code := run(append(f.flags(), "roll", "status", "hello-v2", "--follow"), &progress, &errb)
		done <- result{code: code, stdout: progress.String(), stderr: errb.String()}
	}()
	require.Eventually(t, func() bool { return strings.Contains(progress.String(), "new healthy 1/2") },
		10*time.Second, 10*time.Millisecond, "follow draws the rolling state")
	_, err = f.cli.Put(ctx, recKey, `{"phase":"done","old_rc":"hello-v1","new_rc":"hello-v2","new_healthy":2}`)
	require.NoError(t, err)
	select {
	case r := <-done:
		require.Equal(t, 0, r.code, r.stderr)
		require.Contains(t, r.stdout, "roll hello-v2 done")
		require.Contains(t, r.stdout, "2/2")
	case <-time.After(20 * time.Second):
		t.Fatal("roll status --follow did not end when the roll was done")
	}

	_, err = f.cli.Put(ctx, recKey, `{"phase":"failed","message":"deadline passed"}`)
	require.NoError(t, err)
	f.fails("roll hello-v2 failed: deadline passed", "roll", "status", "hello-v2", "--follow")
	f.fails("not found", "roll", "status", "nosuch")
}

func TestBinaryExitCodes(t *testing.T) {
	bin := binary(t)
	f := newFleet(t)
	exe := func(args ...string) result {
		cmd := exec.Command(bin, args...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return result{code: code, stdout: out.String(), stderr: errb.String()}
	}
	r := exe("--help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "Entities: intent, reality, daemonset (ds), rc, roll, podcluster (pc)")

	requireFailure(t, exe("get", "widgets", "x"), `unknown entity "widgets"`)
	requireFailure(t, exe("apply", "rc", "-f", f.dir+"/nope.yaml"), "apply rc -f "+f.dir+"/nope.yaml: no such file or directory")
	addr := closedPort(t)
	requireFailure(t, exe("--etcd", addr, "list", "rc"), "etcd "+addr+" unreachable")

	t.Setenv("P2_ETCD", strings.Join(f.c.Endpoints(), ","))
	r = exe("list", "rc")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "DESIRED")
}

func TestWatchUntilInterrupted(t *testing.T) {
	bin := binary(t)
	f := newFleet(t)
	f.ok("apply", "rc", "-f", f.write("v1.yaml", rcYAML("hello-v1", 1, 2)))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(f.flags(), "watch", "rc")...)
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
			t.Fatalf("no watch line; stderr %q", stderr.String())
			return ""
		}
	}
	require.Regexp(t, `^initial\s+/p2/replication_controllers/hello-v1 pod=hello desired=2`, next())
	f.ok("rc", "scale", "hello-v1", "0")
	require.Regexp(t, `^mutate\s+/p2/replication_controllers/hello-v1 .*desired=0`, next())
	f.ok("delete", "rc", "hello-v1")
	require.Regexp(t, `^delete\s+/p2/replication_controllers/hello-v1`, next())

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait(), "stderr %q", stderr.String())
	require.Empty(t, stderr.String())
}
