//go:build race

package report

// raceEnabled shrinks the streaming test: the race detector slows the
// byte-by-byte scanner some twentyfold and adds nothing to a test that
// runs on one goroutine.
const raceEnabled = true
