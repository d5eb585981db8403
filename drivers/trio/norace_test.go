//go:build !race

package trio

const raceEnabled = false
