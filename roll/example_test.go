package roll_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/p2kit/p2kit/roll"
)

func Example() {
	r := roll.Roll{
		ID:              "hello-v2",
		OldRC:           "hello-v1",
		NewRC:           "hello-v2",
		DesiredReplicas: 10,
		MinimumReplicas: 8,
		RollDelay:       roll.Duration(30 * time.Second),
		Deadline:        roll.Duration(2 * time.Hour),
	}
	fmt.Println(r.Validate())

	r.OldRC = r.NewRC
	err := r.Validate()
	fmt.Println(errors.Is(err, roll.ErrSameRC))
	fmt.Println(err)
	// Output:
	// <nil>
	// true
	// old and new RC are the same: old_rc and new_rc are both "hello-v2"
}
