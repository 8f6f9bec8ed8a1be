package audit_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/rc"
)

func Example() {
	t := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	early, late := audit.NewID(t), audit.NewID(t.Add(time.Millisecond))
	fmt.Println(early < late, len(early))

	rec := audit.Record{
		EventType: audit.Updated,
		Entity:    rc.Kind,
		ID:        "hello-v1",
		Actor:     "alice",
		Details:   json.RawMessage(`{"replicas_desired":3}`),
		Timestamp: t,
	}
	b, _ := json.Marshal(rec)
	fmt.Println(string(b))
	// Output:
	// true 28
	// {"event_type":"update","entity":"replication_controllers","id":"hello-v1","actor":"alice","details":{"replicas_desired":3},"timestamp":"2026-11-25T12:00:00Z"}
}
