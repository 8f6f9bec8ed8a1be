package wire_test

import (
	"fmt"
	"time"

	"github.com/p2kit/p2kit/wire"
)

// Example shows the wire forms shared by the entities: durations as
// strings, strict decoding, and selector checks naming the field.
func Example() {
	var v struct {
		Timeout wire.Duration `json:"timeout"`
	}
	fmt.Println(wire.Strict([]byte(`{"timeout":"30s"}`), &v), time.Duration(v.Timeout))
	fmt.Println(wire.Strict([]byte(`{"timout":"30s"}`), &v) != nil)
	fmt.Println(wire.Selector("node_selector", "env in (prod") != nil)
	// Output:
	// <nil> 30s
	// true
	// true
}
