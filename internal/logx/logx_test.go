package logx

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestWith(t *testing.T) {
	nop := zap.NewNop()
	if got := With(nop, zap.String("node", "a")); got != nop {
		t.Errorf("With(zap.NewNop()) made a new logger")
	}
	core, logs := observer.New(zapcore.InfoLevel)
	log := With(zap.New(core), zap.String("node", "a"))
	log.Debug("not logged")
	log.Info("logged", zap.Int("n", 1))
	all := logs.All()
	if len(all) != 1 {
		t.Fatalf("%d entries, want 1", len(all))
	}
	if got := all[0].ContextMap(); got["node"] != "a" || got["n"] != int64(1) {
		t.Errorf("fields %v, want node=a and n=1", got)
	}
}
