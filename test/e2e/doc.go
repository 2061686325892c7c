// Package e2e holds devloop's end-to-end smoke test of the offline test
// environment (build tag e2e; run by make e2e after make e2e-env). The scripts
// that build that environment are under env/; TESTING.md describes both.
package e2e
