//go:build e2e

package e2e

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devloop-dev/devloop/internal/testkit/testenv"
)

// ciEphemeralTimeout bounds `devloop ci --ephemeral` on examples/multi:
// a cluster (~35-50 s), the binary (~20 s cold), three rollouts in a row,
// the check, and the deletion, several times over for a loaded machine.
const ciEphemeralTimeout = 10 * time.Minute

// junitReport is the part of devloop ci's JUnit report the test reads.
type junitReport struct {
	XMLName xml.Name `xml:"testsuites"`
	Suites  []struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Cases    []struct {
			Name      string    `xml:"name,attr"`
			Classname string    `xml:"classname,attr"`
			Time      string    `xml:"time,attr"`
			Failure   *struct{} `xml:"failure"`
			Error     *struct{} `xml:"error"`
			Skipped   *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

var ephemeralRE = regexp.MustCompile(`creating kind cluster (devloop-ci-[0-9a-f]{8})`)

// TestCIEphemeralMulti runs `devloop ci --ephemeral --junit FILE` on a
// fresh copy of examples/multi (no binary built yet): it exits 0 after
// every resource, the check labelled test included, is ready; the JUnit
// report parses with one passing test case per resource; and neither the
// throwaway cluster nor its registry is left in docker.
func TestCIEphemeralMulti(t *testing.T) {
	testenv.Getenv(t, "DEVLOOP_KIND_NODE_IMAGE")
	testenv.Getenv(t, "DEVLOOP_REGISTRY_IMAGE")
	testenv.Getenv(t, "BUILDKIT_HOST")
	docker := testenv.LookPath(t, "docker", "docker.io")
	goBin := testenv.LookPath(t, "go", "golang (or Go from go.dev)")
	ctx := t.Context()

	tmp := t.TempDir()
	bin := devloopBin(ctx, t, goBin, tmp)
	dir := filepath.Join(tmp, "multi")
	// --ephemeral replaces the cluster; the name only keeps a stray run
	// from meeting another's.
	devfile := copyExample(ctx, t, "../../examples/multi", dir, `kind_cluster(name = "devloop-multi")`,
		fmt.Sprintf("kind_cluster(name = %q)", "devloop-multi-"+randHex(t)))
	kubeconfig := filepath.Join(tmp, "kubeconfig")
	env := devloopEnv(tmp, kubeconfig, goBin)
	report := filepath.Join(tmp, "junit.xml")

	rctx, cancel := context.WithTimeout(ctx, ciEphemeralTimeout)
	defer cancel()
	out, code := runDevloop(rctx, t, bin, dir, env, "ci", "--ephemeral", "--junit", report, "-f", devfile,
		"--", "--port", strconv.Itoa(testenv.FreePort(t)))
	m := ephemeralRE.FindStringSubmatch(out)
	if m != nil {
		// Should devloop leave it, the test does not.
		deleteClusterAtEnd(t, m[1], kubeconfig)
	}
	if code != 0 || !strings.Contains(out, "devloop: ci: SUCCESS") {
		t.Fatalf("devloop ci --ephemeral on examples/multi: exit %d, want 0 and SUCCESS; output:\n%s", code, out)
	}
	if m == nil {
		t.Fatalf("devloop ci --ephemeral names no cluster; output:\n%s", out)
	}
	if left := containersOf(ctx, t, docker, m[1]); len(left) > 0 {
		t.Errorf("containers of the ephemeral cluster %s left after devloop ci: %v", m[1], left)
	}
	if cfg, err := os.ReadFile(kubeconfig); err == nil && strings.Contains(string(cfg), m[1]) {
		t.Errorf("kubeconfig still names the ephemeral cluster %s", m[1])
	}

	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("the JUnit report: %v", err)
	}
	var r junitReport
	if err := xml.Unmarshal(b, &r); err != nil {
		t.Fatalf("parsing the JUnit report: %v\n%s", err, b)
	}
	if len(r.Suites) != 1 {
		t.Fatalf("JUnit report has %d test suites, want 1:\n%s", len(r.Suites), b)
	}
	s := r.Suites[0]
	want := map[string]string{"multi-bin": "devloop.local", "db": "devloop.k8s", "api": "devloop.k8s", "web": "devloop.k8s", "check": "devloop.test"}
	if s.Tests != len(want) || s.Failures != 0 || s.Errors != 0 || len(s.Cases) != len(want) {
		t.Errorf("JUnit suite: %d tests, %d failures, %d errors, %d test cases; want %d passing", s.Tests, s.Failures, s.Errors, len(s.Cases), len(want))
	}
	for _, c := range s.Cases {
		cls, ok := want[c.Name]
		switch {
		case !ok:
			t.Errorf("JUnit test case %q: not a resource of examples/multi", c.Name)
		case c.Classname != cls:
			t.Errorf("JUnit test case %s: classname %q, want %q", c.Name, c.Classname, cls)
		case c.Failure != nil || c.Error != nil || c.Skipped != nil:
			t.Errorf("JUnit test case %s did not pass:\n%s", c.Name, b)
		}
		if sec, err := strconv.ParseFloat(c.Time, 64); err != nil || sec <= 0 {
			t.Errorf("JUnit test case %s: time %q, want a positive number of seconds", c.Name, c.Time)
		}
		delete(want, c.Name)
	}
	if len(want) > 0 {
		t.Errorf("JUnit report lacks test cases for %v:\n%s", want, b)
	}
	// The check ran against the environment and passed.
	if !strings.Contains(out, "PASS: GET") {
		t.Errorf("devloop ci's output has no PASS line of the check resource:\n%s", out)
	}
}
