package dashboard_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/dashboard"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// serve starts the dashboard over cli on a loopback test server.
func serve(t testing.TB, cli *clientv3.Client, opts ...dashboard.Option) *httptest.Server {
	h, err := dashboard.New(cli, append([]dashboard.Option{dashboard.WithPrefix(root)}, opts...)...)
	require.NoError(t, err)
	// Requests end with the test, so that Close does not wait for the
	// event streams a browser keeps open.
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(h)
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	t.Cleanup(func() {
		cancel()
		srv.Close()
	})
	return srv
}

// get fetches path and returns the status and body.
func get(t testing.TB, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func mustGet(t testing.TB, srv *httptest.Server, path string) string {
	t.Helper()
	code, body := get(t, srv, path)
	require.Equal(t, http.StatusOK, code, "GET %s: %s", path, body)
	return body
}

func TestPages(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	fleet{nodes: 6, pods: 2, gone: 5}.write(t, cli)
	controllers(t, cli, 3)
	srv := serve(t, cli, dashboard.WithPageSize(4))

	t.Run("fleet", func(t *testing.T) {
		body := mustGet(t, srv, "/")
		assert.Contains(t, body, `id="nodes-matched">6<`)
		assert.Contains(t, body, `id="nodes-alive" class="passing">4<`, "nodes 0 and 5 have no preparer record")
		assert.Contains(t, body, `id="nodes-gone" class="critical">2<`)
		assert.Contains(t, body, `id="pods-intent">12<`)
		assert.Contains(t, body, `<span class="pod critical" title="launched critical ">hello</span>`, "node 3's pods are critical")
		assert.Contains(t, body, `<span class="pod passing" title="launched passing ">agent1</span>`)
		assert.Contains(t, body, `data-node="node-00003"`)
		assert.NotContains(t, body, `data-node="node-00004"`, "page size 4: the fifth node is on page 2")
		assert.Contains(t, body, `rows 1–4 of 6`)
		assert.NotContains(t, body, "Release", "read-only")
		page2 := mustGet(t, srv, "/?page=2")
		assert.Contains(t, page2, `data-node="node-00004"`)
		assert.NotContains(t, page2, `data-node="node-00003"`)
	})
	t.Run("fleet selector", func(t *testing.T) {
		body := mustGet(t, srv, "/?selector="+url.QueryEscape("zone in (zone-1)"))
		assert.Contains(t, body, `id="nodes-matched">2<`)
		assert.Contains(t, body, `data-node="node-00001"`)
		assert.Contains(t, body, `data-node="node-00004"`)
		assert.NotContains(t, body, `data-node="node-00000"`)
		code, body := get(t, srv, "/?selector="+url.QueryEscape("zone in ("))
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, body, `selector &#34;zone in (&#34;`)
	})
	t.Run("controllers", func(t *testing.T) {
		body := mustGet(t, srv, "/controllers")
		row := rowOf(t, body, `data-rc="hello-v1"`)
		assert.Contains(t, row, `class="n desired">3<`)
		assert.Contains(t, row, `class="n current">3<`)
		assert.Contains(t, row, `<span class="warning">2</span>`)
		assert.Contains(t, rowOf(t, body, `data-rc="hello-v2"`), `class="n current">-<`, "no status record yet")
		ds := rowOf(t, body, `data-ds="agent"`)
		assert.Contains(t, ds, `class="n desired">5<`)
		assert.Contains(t, ds, `<span class="warning">4</span>`)
	})
	t.Run("rolls", func(t *testing.T) {
		row := rowOf(t, mustGet(t, srv, "/rolls"), `data-roll="hello-v2"`)
		assert.Contains(t, row, `phase-running`)
		assert.Contains(t, row, `<span class="progress">0/3</span>`)
		assert.Contains(t, row, `class="min" style="left: 66%"`, "the minimum healthy line at 2 of 3")
		assert.NotContains(t, row, `<td>none</td>`, "the roll has a deadline")
	})
	t.Run("holds", func(t *testing.T) {
		body := mustGet(t, srv, "/holds")
		assert.Contains(t, body, "no hold in effect")
		assert.NotContains(t, body, `id="holds-banner"`)
	})
	t.Run("audit", func(t *testing.T) {
		body := mustGet(t, srv, "/audit")
		first := strings.Index(body, `data-entity="rolls"`)
		last := strings.Index(body, `data-id="hello-v1"`)
		require.True(t, first > 0 && last > 0, body)
		assert.Less(t, first, last, "newest first: the roll was created after the RC")
		bob := mustGet(t, srv, "/audit?actor=bob")
		assert.Contains(t, bob, `data-id="agent"`)
		assert.NotContains(t, bob, `data-actor="alice"`)
		rcs := mustGet(t, srv, "/audit?entity=replication_controllers")
		assert.Equal(t, 2, strings.Count(rcs, `data-entity="replication_controllers"`))
		assert.NotContains(t, rcs, `data-entity="rolls"`)
	})
	t.Run("entity", func(t *testing.T) {
		body := mustGet(t, srv, "/entity/replication_controllers/hello-v1")
		assert.Contains(t, body, "replicas_desired: 3")
		assert.Contains(t, body, "rc-farm")
		assert.Contains(t, body, "healthy: 2")
		assert.Contains(t, body, `<span class="pill event-create">create</span></td><td>alice</td>`)
		assert.Contains(t, body, `href="/entity/nodes/node-00005"`, "nodes running the RC's pods")
		node := mustGet(t, srv, "/entity/nodes/node-00003")
		assert.Contains(t, node, "zone: zone-0")
		assert.Contains(t, node, `<td>agent1</td><td>launched</td><td><span class="pill critical">critical</span>`)
		roll := mustGet(t, srv, "/entity/rolls/hello-v2")
		assert.Contains(t, roll, "phase: running")
		code, body := get(t, srv, "/entity/replication_controllers/nope")
		assert.Equal(t, http.StatusNotFound, code)
		assert.Contains(t, body, "/p2/replication_controllers/nope")
		code, _ = get(t, srv, "/entity/replication_controllers/Bad_ID")
		assert.Equal(t, http.StatusBadRequest, code)
	})
	t.Run("static", func(t *testing.T) {
		assert.Contains(t, mustGet(t, srv, "/static/style.css"), ".bar")
		assert.Contains(t, mustGet(t, srv, "/static/live.js"), "EventSource")
	})
}

// rowOf returns the table row whose opening tag carries attr.
func rowOf(t testing.TB, body, attr string) string {
	t.Helper()
	i := strings.Index(body, attr)
	require.GreaterOrEqual(t, i, 0, "no row with %s in %s", attr, body)
	end := strings.Index(body[i:], "</tr>")
	require.GreaterOrEqual(t, end, 0)
	return body[i : i+end]
}

func TestCorruptRecordsAreNamed(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	fleet{nodes: 2, pods: 1}.write(t, cli)
	ctx := context.Background()
	_, err := cli.Put(ctx, root+"/status/nodes/node-00001/preparer", "{not json")
	require.NoError(t, err)
	_, err = cli.Put(ctx, failsafe.HoldKey(root, "bad-hold"), "[]")
	require.NoError(t, err)
	srv := serve(t, cli)
	body := mustGet(t, srv, "/")
	assert.Contains(t, body, "left out /p2/status/nodes/node-00001/preparer")
	assert.Contains(t, body, `data-node="node-00000"`, "the other node is shown")
	assert.Contains(t, mustGet(t, srv, "/holds"), "left out /p2/failsafe/holds/bad-hold")
}

var tokenRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// postRelease posts the release form of id with token (none when empty).
func postRelease(t testing.TB, srv *httptest.Server, id, token string, header http.Header) (int, string) {
	t.Helper()
	form := url.Values{}
	if token != "" {
		form.Set("csrf", token)
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/holds/"+id+"/release", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	c := *srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func releaseWritten(t testing.TB, cli *clientv3.Client, id string) bool {
	resp, err := cli.Get(context.Background(), failsafe.ReleaseKey(root, id))
	require.NoError(t, err)
	return len(resp.Kvs) > 0
}

func TestReleaseReadOnly(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	fleet{nodes: 1, pods: 3}.write(t, cli)
	hold := startConsumer(t, cli, nodeName(0)).trip(t, cli)
	secret := dashboard.WithCSRFSecret([]byte("shared secret"))
	srv := serve(t, cli, secret)
	// A dashboard with writes on and the same secret gives out a token
	// that the read-only one must refuse all the same.
	rw := serve(t, cli, secret, dashboard.AllowWrites("carol"))
	m := tokenRE.FindStringSubmatch(mustGet(t, rw, "/holds/"+hold.ID+"/release"))
	require.Len(t, m, 2)

	body := mustGet(t, srv, "/holds")
	assert.Contains(t, body, `data-hold="`+hold.ID+`"`)
	assert.Contains(t, body, `id="holds-banner"`)
	assert.NotContains(t, body, "/release", "no release action without writes")
	code, _ := get(t, srv, "/holds/"+hold.ID+"/release")
	assert.Equal(t, http.StatusForbidden, code)
	code, _ = postRelease(t, srv, hold.ID, m[1], nil)
	assert.Equal(t, http.StatusForbidden, code, "writes are off, whatever the token")
	code, _ = postRelease(t, srv, hold.ID, "forged", nil)
	assert.Equal(t, http.StatusForbidden, code)
	code, _ = postRelease(t, srv, hold.ID, "", nil)
	assert.Equal(t, http.StatusForbidden, code)
	assert.False(t, releaseWritten(t, cli, hold.ID))
}

func TestRelease(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	fleet{nodes: 1, pods: 3}.write(t, cli)
	c := startConsumer(t, cli, nodeName(0))
	hold := c.trip(t, cli)
	srv := serve(t, cli, dashboard.AllowWrites("carol"))

	body := mustGet(t, srv, "/holds")
	assert.Contains(t, body, `href="/holds/`+hold.ID+`/release"`)
	confirm := mustGet(t, srv, "/holds/"+hold.ID+"/release")
	assert.Contains(t, confirm, "<b>3 deletes</b>")
	assert.Contains(t, confirm, "<li><code>hello</code></li>", "the held keys are named")
	assert.Contains(t, confirm, "Release as carol")
	m := tokenRE.FindStringSubmatch(confirm)
	require.Len(t, m, 2, confirm)

	code, _ := postRelease(t, srv, hold.ID, "", nil)
	assert.Equal(t, http.StatusForbidden, code, "no token")
	code, _ = postRelease(t, srv, hold.ID, m[1]+"x", nil)
	assert.Equal(t, http.StatusForbidden, code, "a wrong token")
	code, _ = postRelease(t, srv, "other-hold", m[1], nil)
	assert.Equal(t, http.StatusForbidden, code, "the token of another hold")
	code, _ = postRelease(t, srv, hold.ID, m[1], http.Header{"Origin": {"http://evil.example.com"}})
	assert.Equal(t, http.StatusForbidden, code, "a post from another site")
	assert.False(t, releaseWritten(t, cli, hold.ID))

	code, _ = postRelease(t, srv, hold.ID, m[1], http.Header{"Origin": {srv.URL}})
	require.Equal(t, http.StatusSeeOther, code)
	holdGone(t, cli)
	require.Eventually(t, func() bool {
		for {
			select {
			case b := <-c.batches:
				if b.Released && b.Deletes() == 3 {
					return true
				}
			default:
				return false
			}
		}
	}, 20*time.Second, 20*time.Millisecond, "the consumer receives the held deletes")
	recs, err := audit.NewLog(cli).Recent(context.Background(), 1, func(r *audit.Record) bool { return r.EventType == audit.Released })
	require.NoError(t, err)
	require.Len(t, recs.Items, 1)
	assert.Equal(t, "carol", recs.Items[0].Value.Actor)
	assert.Equal(t, failsafe.HoldKind, recs.Items[0].Value.Entity)
	assert.Equal(t, hold.ID, recs.Items[0].Value.ID)
	assert.Contains(t, mustGet(t, srv, "/audit?actor=carol"), `data-id="`+hold.ID+`"`)
	gone := mustGet(t, srv, "/entity/failsafe_holds/"+hold.ID)
	assert.Contains(t, gone, "no value stored", "the released hold's page stays for its audit record")
	assert.Contains(t, gone, `<span class="pill event-release">release</span></td><td>carol</td>`)

	code, body = postRelease(t, srv, hold.ID, m[1], nil)
	assert.Equal(t, http.StatusNotFound, code, "released already: %s", body)
}

func TestWritesNeedAUser(t *testing.T) {
	c := etcdtest.New(t)
	_, err := dashboard.New(c.Client(t), dashboard.AllowWrites(""))
	assert.True(t, errors.Is(err, dashboard.ErrNoUser), "%v", err)
	etcdtest.EnableAuth(t, c.Client(t), "rootpw")
	root := c.ClientAs(t, "root", "rootpw")
	_, err = dashboard.New(root, dashboard.AllowWrites(""))
	assert.NoError(t, err, "the client's user is the actor")
	_, err = dashboard.New(root, dashboard.AllowWrites("mallory"))
	assert.ErrorContains(t, err, `authenticates as "root"`)
}

func TestEventsOnChange(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	srv := serve(t, cli)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	lines := bufio.NewScanner(resp.Body)
	require.True(t, lines.Scan()) // retry:
	_, err = cli.Put(ctx, root+"/replication_controllers/x", "{}")
	require.NoError(t, err)
	for lines.Scan() {
		if lines.Text() == "event: change" {
			return
		}
	}
	t.Fatalf("no change event: %v", lines.Err())
}

// TestEventsCatchUp: a change between the page's read and its event
// stream's start refreshes the page at once.
func TestEventsCatchUp(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	srv := serve(t, cli)
	page := mustGet(t, srv, "/holds")
	m := regexp.MustCompile(`data-rev="(\d+)"`).FindStringSubmatch(page)
	require.Len(t, m, 2, page)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := cli.Put(ctx, root+"/replication_controllers/x", "{}")
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events?rev="+m[1], nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if lines.Text() == "event: change" {
			return
		}
	}
	t.Fatalf("no change event: %v", lines.Err())
}
