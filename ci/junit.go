package ci

import (
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// The JUnit XML schema as CI systems (Jenkins, GitLab, GitHub actions that
// read reports) accept it: one testsuite per run, one testcase per resource.
type (
	junitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Time     string       `xml:"time,attr"`
		Suites   []junitSuite `xml:"testsuite"`
	}
	junitSuite struct {
		Name      string      `xml:"name,attr"`
		Tests     int         `xml:"tests,attr"`
		Failures  int         `xml:"failures,attr"`
		Errors    int         `xml:"errors,attr"`
		Skipped   int         `xml:"skipped,attr"`
		Time      string      `xml:"time,attr"`
		Timestamp string      `xml:"timestamp,attr"`
		Cases     []junitCase `xml:"testcase"`
	}
	junitCase struct {
		Name      string        `xml:"name,attr"`
		Classname string        `xml:"classname,attr"`
		Time      string        `xml:"time,attr"`
		Failure   *junitProblem `xml:"failure,omitempty"`
		Error     *junitProblem `xml:"error,omitempty"`
		Skipped   *junitSkipped `xml:"skipped,omitempty"`
	}
	junitProblem struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
	junitSkipped struct {
		Message string `xml:"message,attr"`
	}
)

// WriteJUnit writes r as a JUnit XML report named suite (the Devfile's
// path): a resource that failed is a <failure> with its reason and last log
// lines; one still waiting when the run ended (timeout, or another resource
// failed first) is an <error>; one not required is <skipped>. The classname
// is "devloop.KIND", or "devloop.test" for resources labelled test.
func WriteJUnit(w io.Writer, suite string, r Result) error {
	s := junitSuite{Name: suite, Time: seconds(r.End.Sub(r.Start)), Timestamp: r.Start.UTC().Format("2006-01-02T15:04:05")}
	for _, res := range r.Resources {
		c := junitCase{Name: res.Name, Classname: classname(res), Time: seconds(res.Duration())}
		body := xmlText(strings.Join(res.Tail, "\n"))
		switch res.Status {
		case StatusFailed:
			c.Failure = &junitProblem{Message: xmlText(res.Reason), Type: "failed", Text: body}
			s.Failures++
		case StatusWaiting:
			msg := xmlText("not ready when devloop ci ended (" + r.Reason + "): " + res.Reason)
			c.Error = &junitProblem{Message: msg, Type: "not ready", Text: body}
			s.Errors++
		case StatusSkipped:
			c.Skipped = &junitSkipped{Message: res.Reason}
			s.Skipped++
		}
		s.Cases = append(s.Cases, c)
	}
	s.Tests = len(s.Cases)
	doc := junitSuites{Name: "devloop ci", Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Skipped: s.Skipped,
		Time: s.Time, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("writing the JUnit report: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func classname(r Resource) string {
	for _, l := range r.Labels {
		if l == "test" {
			return "devloop.test"
		}
	}
	if r.Kind == "" {
		return "devloop"
	}
	return "devloop." + r.Kind
}

// seconds formats d as JUnit's time attribute: seconds with millisecond
// precision.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.3f", d.Seconds())
}

// ansi matches terminal escape sequences (colours, cursor moves) that
// programs print; XML 1.0 cannot carry ESC.
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]`)

// xmlText removes terminal escapes and the control characters XML 1.0
// forbids (encoding/xml would turn them into U+FFFD), keeping tab and newline.
func xmlText(s string) string {
	s = ansi.ReplaceAllString(s, "")
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			return -1
		}
		return r
	}, s)
}
