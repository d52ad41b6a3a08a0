//go:build race

package plugwiretest

const raceEnabled = true
