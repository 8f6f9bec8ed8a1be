package smallmap

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

// A Map does what a Go map does, through its move from slice to map,
// over random sets and deletes.
func TestMapLikeAGoMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var m Map[int]
		want := map[string]int{}
		keys := 1 + r.IntN(3*spill)
		for op := range 500 {
			k := fmt.Sprint("k", r.IntN(keys))
			switch r.IntN(4) {
			case 0:
				m.Delete(k)
				delete(want, k)
			case 1:
				if round%50 == 0 && op == 250 {
					m.Clear()
					clear(want)
				}
			default:
				m.Set(k, op)
				want[k] = op
			}
			if v, ok := m.Get(k); v != want[k] || ok != hasKey(want, k) {
				t.Fatalf("round %d op %d: Get(%s) = %d, %v; want %d", round, op, k, v, ok, want[k])
			}
			if m.Len() != len(want) {
				t.Fatalf("round %d op %d: Len %d, want %d", round, op, m.Len(), len(want))
			}
		}
		if got := maps.Collect(m.All()); !maps.Equal(got, want) {
			t.Fatalf("round %d: All %v, want %v", round, got, want)
		}
		if m.Value("absent") != 0 || m.Has("absent") {
			t.Fatalf("round %d: an absent key has a value", round)
		}
	}
}

func hasKey(m map[string]int, k string) bool { _, ok := m[k]; return ok }

// The empty map is the zero value, and a map emptied by deletes keeps no
// array.
func TestEmptied(t *testing.T) {
	var m Map[string]
	m.Set("a", "1")
	m.Set("b", "2")
	m.Delete("a")
	m.Delete("b")
	if m.small != nil || m.Len() != 0 {
		t.Fatalf("emptied map keeps %v", m.small)
	}
	for range m.All() {
		t.Fatal("an empty map yields")
	}
}
