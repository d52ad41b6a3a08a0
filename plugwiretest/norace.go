//go:build !race

package plugwiretest

const raceEnabled = false
