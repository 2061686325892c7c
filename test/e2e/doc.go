// Package e2e holds devloop's end-to-end tests (build tag e2e; run by make
// e2e after make e2e-env): the smoke test of the offline test environment,
// and the examples run as a user runs them (hello, multi with devloop ci and
// devloop down, live). The scripts that build that environment are under
// env/; TESTING.md describes both.
package e2e
