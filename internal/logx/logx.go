// Package logx holds what p2kit's packages share about their loggers.
package logx

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// With is log with fields added, for a logger made for each of many
// objects (a preparer, a Holds): a process that simulates a fleet makes
// one per node. The fields are encoded the first time it logs, not when
// it is made (a JSON encoder's copy keeps a buffer of its own), and a
// logger that logs nothing (zap.NewNop) is returned as it is.
func With(log *zap.Logger, fields ...zap.Field) *zap.Logger {
	if log.Level() == zapcore.InvalidLevel {
		return log
	}
	return log.WithLazy(fields...)
}
