package dashboard_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/p2kit/p2kit/dashboard"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/stretchr/testify/require"
)

var (
	shotsDir = flag.String("screenshots", "", "write a 1280x800 PNG of each page into this directory (docs/dashboard)")
	shotsURL = flag.String("screenshot-url", "", "the dashboard to photograph, such as the quickstart's (default: one over a test fleet)")
)

// maxShot is the largest screenshot kept in the repository.
const maxShot = 300 << 10

// TestScreenshots photographs each page:
//
//	go run ./examples/quickstart --keep --dashboard   # prints the URL
//	go test ./dashboard -run TestScreenshots -screenshots=$PWD/docs/dashboard -screenshot-url=<URL>
func TestScreenshots(t *testing.T) {
	if *shotsDir == "" {
		t.Skip("screenshots are taken only with -screenshots=DIR (see the test's comment)")
	}
	ctx := tab(t)
	base := *shotsURL
	if base == "" {
		cli := etcdtest.New(t).Client(t)
		fleet{nodes: 40, pods: 3, gone: 9}.write(t, cli)
		controllers(t, cli, 3)
		startConsumer(t, cli, nodeName(1)).trip(t, cli)
		base = serve(t, cli, dashboard.AllowWrites("alice")).URL + "/"
	}
	base = strings.TrimSuffix(base, "/") + "/"
	shoot := func(file string) {
		t.Helper()
		png := eval(t, ctx, "screenshot "+file, chromedp.CaptureScreenshot())
		require.Less(t, len(png), maxShot, "%s is %d bytes", file, len(png))
		require.NoError(t, os.WriteFile(filepath.Join(*shotsDir, file), png, 0o644))
		t.Logf("%s: %d bytes", file, len(png))
	}
	do(t, ctx, "viewport", chromedp.EmulateViewport(1280, 800))
	for _, p := range []struct{ file, path string }{
		{"fleet.png", ""},
		{"controllers.png", "controllers"},
		{"rolls.png", "rolls"},
		{"holds.png", "holds"},
		{"audit.png", "audit"},
		{"entity.png", "entity/replication_controllers/hello-v2"},
	} {
		do(t, ctx, "load "+p.path, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS("#main footer")))
		shoot(p.file)
	}
	do(t, ctx, "the release confirmation", chromedp.Navigate(base+"holds"),
		chromedp.Click(chromedp.CSS("a.release"), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS("#confirm-release")))
	shoot("release.png")
}
