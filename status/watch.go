package status

import "github.com/p2kit/p2kit/kv"

// Watcher follows one namespace's records. Records of other namespaces
// sharing the watched prefix never reach it (the store filters them out);
// a bad record of its own namespace arrives as an event with Err set,
// naming its key.
type Watcher[T any] = kv.Watcher[T]
