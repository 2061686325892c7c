package devfile

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"
)

func strList(ss ...string) *starlark.List { return toStarlarkList(ss) }

func TestLabelsFromValue(t *testing.T) {
	testConv(t, "labelsFromValue", func(in starlark.Value) ([]string, error) { return labelsFromValue(in) }, []convCase[[]string]{
		{"none", starlark.None, nil, ""},
		{"string", starlark.String("backend"), []string{"backend"}, ""},
		{"list sorted unique", strList("web", "api", "web"), []string{"api", "web"}, ""},
		{"tuple", starlark.Tuple{starlark.String("a.b_c-d")}, []string{"a.b_c-d"}, ""},
		{"prefixed", strList("example.com/team"), []string{"example.com/team"}, ""},
		{"invalid", strList("has space"), nil, "not a valid label"},
		{"bad prefix", strList("Example.com/team"), nil, "not a valid label"},
		{"too long", starlark.String(strings.Repeat("a", 64)), nil, "not a valid label"},
		{"not string", starlark.Tuple{starlark.MakeInt(1)}, nil, "want a string"},
		{"dict", starlark.NewDict(0), nil, "got dict"},
	})
}

func TestPathsFromValue(t *testing.T) {
	testConv(t, "pathsFromValue", func(in starlark.Value) ([]string, error) { return pathsFromValue("/base", in) }, []convCase[[]string]{
		{"none", starlark.None, nil, ""},
		{"relative", starlark.String("src"), []string{"/base/src"}, ""},
		{"list", strList("a/../b", "/abs/x/"), []string{"/base/b", "/abs/x"}, ""},
		{"dot", starlark.String("."), []string{"/base"}, ""},
		{"empty list", strList(), nil, ""},
		{"empty path", starlark.String(""), nil, "empty path"},
		{"int", starlark.MakeInt(3), nil, "want a string or a list"},
	})
}

func TestLinksFromValue(t *testing.T) {
	l := linkValue{Link{URL: "http://x", Name: "x"}}
	testConv(t, "linksFromValue", func(in starlark.Value) ([]Link, error) { return linksFromValue(in) }, []convCase[[]Link]{
		{"none", starlark.None, nil, ""},
		{"string", starlark.String("http://a"), []Link{{URL: "http://a"}}, ""},
		{"link", l, []Link{{URL: "http://x", Name: "x"}}, ""},
		{"mixed list", starlark.NewList([]starlark.Value{starlark.String("http://a"), l}), []Link{{URL: "http://a"}, {URL: "http://x", Name: "x"}}, ""},
		{"empty url", starlark.String(""), nil, "empty URL"},
		{"int", starlark.NewList([]starlark.Value{starlark.MakeInt(1)}), nil, "want a URL string"},
	})
}

func TestCmdFromValue(t *testing.T) {
	testConv(t, "cmdFromValue", func(in starlark.Value) ([]string, error) {
		c, err := cmdFromValue("cmd", in)
		return c.Argv, err
	}, []convCase[[]string]{
		{"none", starlark.None, nil, ""},
		{"blank string", starlark.String("  "), nil, ""},
		{"string", starlark.String("make all"), []string{"sh", "-c", "make all"}, ""},
		{"list", strList("make", "all"), []string{"make", "all"}, ""},
		{"empty program", strList("", "x"), nil, "program"},
		{"dict", starlark.NewDict(0), nil, "got dict"},
	})
}

func TestDurationFromValue(t *testing.T) {
	testConv(t, "durationFromValue", func(in starlark.Value) (time.Duration, error) { return durationFromValue("timeout", in) }, []convCase[time.Duration]{
		{"string", starlark.String("1m30s"), 90 * time.Second, ""},
		{"seconds", starlark.MakeInt(5), 5 * time.Second, ""},
		{"float seconds", starlark.Float(0.5), 500 * time.Millisecond, ""},
		{"empty", starlark.String(""), 0, ""},
		{"bad", starlark.String("5 minutes"), 0, "not a duration"},
		{"negative", starlark.String("-1s"), 0, "negative"},
		{"huge int", starlark.MakeInt64(1 << 62), 0, "out of range"},
	})
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", "''"},
		{"safe", "a-b_c.d/e:f=g@h%i+j,k", "a-b_c.d/e:f=g@h%i+j,k"},
		{"space", "a b", "'a b'"},
		{"quote", "it's", `'it'"'"'s'`},
		{"dollar", "$HOME", "'$HOME'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shellQuote(tt.in); got != tt.want {
				t.Errorf("shellQuote(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCheckRef(t *testing.T) {
	tests := []struct {
		ref string
		ok  bool
	}{
		{"app", true},
		{"example.com/team/app", true},
		{"localhost:5000/app:dev", true},
		{"app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true},
		{"my_app-x.y", true},
		{"", false},
		{"App", false},
		{"app:", false},
		{"-app", false},
		{"a//b", false},
		{strings.Repeat("a", 256), false},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			if err := checkRef(tt.ref); (err == nil) != tt.ok {
				t.Errorf("checkRef(%q) = %v, want ok %v", tt.ref, err, tt.ok)
			}
		})
	}
	// The error names the ref and what is wrong with it.
	if err := checkRef("example.com/App"); err == nil || !strings.Contains(err.Error(), `"example.com/App"`) || !strings.Contains(err.Error(), "must be lowercase") {
		t.Errorf("checkRef(%q) = %v, want it to name the ref and say it must be lower case", "example.com/App", err)
	}
}

// convCase is a case of a conversion from a Starlark value: the value
// wanted, or an error containing wantErr.
type convCase[T any] struct {
	name    string
	in      starlark.Value
	want    T
	wantErr string
}

// testConv runs the cases of the conversion fn, named fname in failures.
func testConv[T any](t *testing.T, fname string, fn func(starlark.Value) (T, error), tests []convCase[T]) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fn(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("%s(%v) = %v, %v, want error containing %q", fname, tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s(%v) = %v, %v, want %v", fname, tt.in, got, err, tt.want)
			}
		})
	}
}
