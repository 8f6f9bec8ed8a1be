package keyspace_test

import (
	"fmt"

	"github.com/p2kit/p2kit/keyspace"
)

// Example checks names made of ids, as the pod trees do for "<node>/<pod>".
func Example() {
	check := keyspace.IDs("node", "pod")
	fmt.Println(check("web1/hello"))
	fmt.Println(check("web1/Hello") != nil, check("web1") != nil)
	fmt.Println(keyspace.Resolve([]keyspace.Option{keyspace.WithPrefix("/p2/")}).Dir("intent"))
	// Output:
	// <nil>
	// true true
	// /p2/intent
}
