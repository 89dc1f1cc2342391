package soc

import "github.com/dijk-dns/dijk/internal/hitlog"

// HitLogger is policy.HitLogger (and bypass.HitLogger), repeated here so
// this package does not import the query path.
type HitLogger interface {
	Log(hitlog.Event)
}

// Tee returns a HitLogger that gives every event to each of loggers in
// turn, for the hit-log writer and the Recorder side by side. Neither
// blocks, so neither delays the other. Nil interfaces are skipped; a typed
// nil pointer (a nil *hitlog.Logger in a HitLogger) is not, so leave it out.
func Tee(loggers ...HitLogger) HitLogger {
	var t tee
	for _, l := range loggers {
		if l != nil {
			t = append(t, l)
		}
	}
	if len(t) == 1 {
		return t[0]
	}
	return t
}

type tee []HitLogger

func (t tee) Log(e hitlog.Event) {
	for _, l := range t {
		l.Log(e)
	}
}
