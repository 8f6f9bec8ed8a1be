package component_test

import (
	"fmt"

	"github.com/p2kit/p2kit/component"
	"github.com/spf13/pflag"
)

// Example declares the flags every long-running binary takes and checks
// its --prefix.
func Example() {
	fs := pflag.NewFlagSet("preparer", pflag.ContinueOnError)
	var d component.Daemon
	d.Register(fs, "127.0.0.1:9101")
	_ = fs.Parse([]string{"--etcd", "a:2379,b:2379", "--prefix", "/fleet/"})
	prefix, err := component.CheckPrefix(d.Prefix)
	fmt.Println(component.SplitEndpoints(d.Etcd.Endpoints), prefix, err, d.MetricsAddr)
	// Output: [a:2379 b:2379] /fleet <nil> 127.0.0.1:9101
}
