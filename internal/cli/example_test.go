package cli_test

import (
	"fmt"

	"github.com/p2kit/p2kit/internal/cli"
	"github.com/spf13/pflag"
)

// Example declares the flags every long-running binary takes and checks
// its --prefix.
func Example() {
	fs := pflag.NewFlagSet("preparer", pflag.ContinueOnError)
	var d cli.Daemon
	d.Register(fs, "127.0.0.1:9101")
	_ = fs.Parse([]string{"--etcd", "a:2379,b:2379", "--prefix", "/fleet/"})
	prefix, err := cli.CheckPrefix(d.Prefix)
	fmt.Println(cli.SplitEndpoints(d.Etcd.Endpoints), prefix, err, d.MetricsAddr)
	// Output: [a:2379 b:2379] /fleet <nil> 127.0.0.1:9101
}
