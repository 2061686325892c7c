//go:build race

package web

// raceEnabled says the tests run with -race; binaries the tests build use
// the same flag, so they reuse the packages already compiled for the test.
const raceEnabled = true
