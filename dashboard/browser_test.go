package dashboard_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/dashboard"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/rc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromiumPath is Debian's chromium, which .ci/run installs with apt-get.
var chromiumPath = flag.String("chromium", "/usr/bin/chromium", "the chromium the browser tests drive headless")

// browser is one headless chromium shared by the browser tests; each test
// opens tabs of its own.
var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	err    error
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	os.Exit(code)
}

// tab opens a browser tab for t. Without chromium it fails under CI
// (CI=true, as .ci/run sets) and skips, saying why, elsewhere.
func tab(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(*chromiumPath); err != nil {
		msg := fmt.Sprintf("chromium is missing at %s (%v): install Debian's package (apt-get install chromium), as .ci/run does", *chromiumPath, err)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s", msg)
		}
		t.Skipf("%s; skipped because CI is not true", msg)
	}
	browser.once.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(*chromiumPath),
			chromedp.NoSandbox, // tests may run as root, in containers
			chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.WindowSize(1280, 800),
		)
		actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, bcancel := chromedp.NewContext(actx)
		browser.ctx = bctx
		browser.cancel = func() { bcancel(); acancel() }
		browser.err = chromedp.Do(bctx)
	})
	require.NoError(t, browser.err, "start %s", *chromiumPath)
	ctx, cancel := chromedp.NewContext(browser.ctx)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx), "open a tab")
	return ctx
}

// do runs browser actions with a deadline.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, actions...), what)
}

// eval runs one browser action that returns a value, with a deadline.
func eval[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err, what)
	return v
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return eval(t, ctx, "text of "+sel, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
}

// waitFor polls a JavaScript predicate until it holds.
func waitFor(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second))
}

func TestBrowserPages(t *testing.T) {
	ctx := tab(t)
	cli := etcdtest.New(t).Client(t)
	fleet{nodes: 8, pods: 2, gone: 5}.write(t, cli)
	controllers(t, cli, 3)
	hold := startConsumer(t, cli, nodeName(1)).trip(t, cli)
	srv := serve(t, cli)
	for _, c := range []struct{ path, sel, want string }{
		{"/", "#nodes-matched", "8"},
		{"/?selector=zone%3Dzone-2", "#nodes tbody", "node-00005"},
		{"/controllers", `tr[data-rc="hello-v1"] td.desired`, "3"},
		{"/controllers", `tr[data-ds="agent"] td.healthy`, "4"},
		{"/rolls", `tr[data-roll="hello-v2"] .progress`, "0/3"},
		{"/holds", `tr[data-hold="` + hold.ID + `"] .counts`, "2 deletes"},
		{"/audit", "#audit tbody tr:first-child", "rolls"},
		{"/entity/replication_controllers/hello-v1", "#value", "replicas_desired: 3"},
		{"/entity/nodes/node-00003", "#pods", "critical"},
	} {
		do(t, ctx, "load "+c.path, chromedp.Navigate(srv.URL+c.path))
		assert.Contains(t, text(t, ctx, c.sel), c.want, "%s %s", c.path, c.sel)
		assert.Contains(t, text(t, ctx, "#holds-banner"), "1 failsafe hold in effect", c.path)
	}
	do(t, ctx, "the selector's page", chromedp.Navigate(srv.URL+"/?selector=zone%3Dzone-2"))
	rows := eval(t, ctx, "its rows", chromedp.Evaluate[int](`document.querySelectorAll("#nodes tbody tr").length`))
	assert.Equal(t, 2, rows, "zone-2 is nodes 2 and 5")
}

func TestBrowserLiveUpdate(t *testing.T) {
	ctx := tab(t)
	cli := etcdtest.New(t).Client(t)
	fleet{nodes: 3, pods: 1}.write(t, cli)
	controllers(t, cli, 3)
	srv := serve(t, cli)
	do(t, ctx, "load the controllers", chromedp.Navigate(srv.URL+"/controllers"),
		waitFor(`document.body.dataset.stream === "open"`),
		// A mark that a reload would lose.
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	require.Equal(t, "3", text(t, ctx, `tr[data-rc="hello-v1"] td.desired`))

	_, err := rc.NewStore(cli).Scale(context.Background(), "dave", "hello-v1", 7)
	require.NoError(t, err)
	do(t, ctx, "the desired count changes in place",
		waitFor(`document.querySelector('tr[data-rc="hello-v1"] td.desired').textContent.trim() === "7"`))
	kept := eval(t, ctx, "no reload", chromedp.Evaluate[bool](`window.notReloaded === true`))
	assert.True(t, kept, "the page was refreshed in place, not reloaded")
}

func TestBrowserRelease(t *testing.T) {
	ctx := tab(t)
	cli := etcdtest.New(t).Client(t)
	fleet{nodes: 2, pods: 3}.write(t, cli)
	hold := startConsumer(t, cli, nodeName(0)).trip(t, cli)
	srv := serve(t, cli, dashboard.AllowWrites("erin"))
	row := `tr[data-hold="` + hold.ID + `"]`
	do(t, ctx, "open the hold's release", chromedp.Navigate(srv.URL+"/holds"),
		chromedp.Click(chromedp.CSS(row+" a.release"), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS("#confirm-release")))
	assert.Contains(t, text(t, ctx, "#deliver"), "3 deletes")
	assert.Contains(t, text(t, ctx, "#held-keys"), "hello")
	do(t, ctx, "confirm", chromedp.Click(chromedp.CSS("#confirm-release"), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS("#released")))
	holdGone(t, cli)
	// The holds page, live, drops the hold.
	do(t, ctx, "the hold leaves the page", waitFor(`document.querySelector('`+row+`') === null`))
	recs, err := audit.NewLog(cli).Recent(context.Background(), 1, func(r *audit.Record) bool { return r.EventType == audit.Released })
	require.NoError(t, err)
	require.Len(t, recs.Items, 1)
	assert.Equal(t, "erin", recs.Items[0].Value.Actor)
	assert.Equal(t, hold.ID, recs.Items[0].Value.ID)
}

func TestBrowserReadOnly(t *testing.T) {
	ctx := tab(t)
	cli := etcdtest.New(t).Client(t)
	fleet{nodes: 2, pods: 3}.write(t, cli)
	hold := startConsumer(t, cli, nodeName(0)).trip(t, cli)
	srv := serve(t, cli)
	do(t, ctx, "load the holds", chromedp.Navigate(srv.URL+"/holds"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-hold="`+hold.ID+`"]`)))
	buttons := eval(t, ctx, "count write actions", chromedp.Evaluate[int](
		`document.querySelectorAll("a.release, form[method=post], #main button").length`))
	assert.Zero(t, buttons, "no release action without writes")
	assert.Contains(t, text(t, ctx, "header .mode"), "read-only")
	code := eval(t, ctx, "a forged POST from the page", chromedp.Evaluate[int](
		`fetch("/holds/`+hold.ID+`/release", {method: "POST", body: new URLSearchParams({csrf: "forged"})}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	assert.Equal(t, 403, code)
	assert.False(t, releaseWritten(t, cli, hold.ID))
}
