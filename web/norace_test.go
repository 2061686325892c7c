//go:build !race

package web

// raceEnabled says the tests run with -race (see race_test.go).
const raceEnabled = false
