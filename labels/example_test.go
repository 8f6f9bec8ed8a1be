package labels_test

import (
	"fmt"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
)

// Selectors use Kubernetes syntax; MatchingIn answers "which ids match" from
// a watched view without reading etcd.
func Example() {
	sel, err := labels.Parse("env=prod,tier in (web,api)")
	if err != nil {
		panic(err)
	}
	nodes := kv.MapView[labels.Set]{
		"web1": {Name: "web1", Value: labels.Set{"env": "prod", "tier": "web"}},
		"web2": {Name: "web2", Value: labels.Set{"env": "prod", "tier": "api"}},
		"db1":  {Name: "db1", Value: labels.Set{"env": "prod", "tier": "db"}},
		"stg1": {Name: "stg1", Value: labels.Set{"env": "staging", "tier": "web"}},
	}
	fmt.Println(sel)
	fmt.Println(labels.MatchingIn(nodes, sel))

	relabeled := nodes["stg1"].Value.With(labels.Set{"env": "prod"}, nil)
	fmt.Println(relabeled, sel.Matches(relabeled))

	_, err = labels.Parse("tier in (web")
	fmt.Println(err != nil)
	// Output:
	// env=prod,tier in (api,web)
	// [web1 web2]
	// env=prod,tier=web true
	// true
}

func ExampleParse() {
	sel, err := labels.Parse("env=prod,!canary")
	if err != nil {
		panic(err)
	}
	fmt.Println(sel.Matches(labels.Set{"env": "prod"}))
	fmt.Println(sel.Matches(labels.Set{"env": "prod", "canary": "true"}))
	// Output:
	// true
	// false
}
