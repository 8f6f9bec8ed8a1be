package dashboard_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/p2kit/p2kit/dashboard"
	"github.com/p2kit/p2kit/etcdtest"
)

// The dashboard is an http.Handler: serve it on its own, or mount it in a
// process that has other handlers.
func Example() {
	c, stop := etcdtest.Standalone()
	defer stop()
	cli, err := c.NewClient()
	if err != nil {
		panic(err)
	}
	defer cli.Close()

	h, err := dashboard.New(cli, dashboard.WithPrefix("/p2"), dashboard.WithBasePath("/dashboard/"))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, page := range []string{"", "controllers", "rolls", "holds", "audit"} {
		resp, err := http.Get(srv.URL + "/dashboard/" + page)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println("/dashboard/"+page, resp.Status)
	}
	// Output:
	// /dashboard/ 200 OK
	// /dashboard/controllers 200 OK
	// /dashboard/rolls 200 OK
	// /dashboard/holds 200 OK
	// /dashboard/audit 200 OK
}
