package workqueue_test

import (
	"fmt"
	"time"

	"github.com/p2kit/p2kit/internal/workqueue"
)

// Example shows a key added three times being processed once.
func Example() {
	q := workqueue.New(time.Second, time.Minute)
	defer q.Close()
	for range 3 {
		q.Add("web1/hello")
	}
	key, _ := q.Get()
	fmt.Println(key, q.Len())
	q.Done(key, nil)
	// Output: web1/hello 0
}
