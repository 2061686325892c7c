package manifest

import (
	"reflect"
	"testing"
)

func TestSplitYAML(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  []string
		lines []int
	}{
		{"one", "a: 1\n", []string{"a: 1\n"}, []int{1}},
		{"two", "a: 1\n---\nb: 2\n", []string{"a: 1\n", "b: 2\n"}, []int{1, 3}},
		{"leading separator and comment", "--- # first\na: 1\n", []string{"", "a: 1\n"}, []int{1, 1}},
		{"separator with content", "--- a: 1\n", []string{"", "a: 1\n"}, []int{1, 1}},
		{"not a separator", "a: ---x\n----\n", []string{"a: ---x\n----\n"}, []int{1}},
		{"document end", "a: 1\n...\n", []string{"a: 1\n"}, []int{1}},
		{"comment right after the separator", "a: 1\n---# c\nb: 2\n", []string{"a: 1\n", "b: 2\n"}, []int{1, 2}},
		{"document end, then a separator", "a: 1\n...\n---\nb: 2\n", []string{"a: 1\n", "b: 2\n"}, []int{1, 4}},
		{"document end, then a bare document", "a: 1\n...\nb: 2\n", []string{"a: 1\n", "b: 2\n"}, []int{1, 3}},
		{"CRLF", "a: 1\r\n---\r\nb: 2\r\n", []string{"a: 1\r\n", "b: 2\r\n"}, []int{1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			var lines []int
			for _, d := range Split(tt.in) {
				got = append(got, d.Text)
				lines = append(lines, d.Line)
			}
			if !reflect.DeepEqual(got, tt.want) || !reflect.DeepEqual(lines, tt.lines) {
				t.Errorf("Split(%q) = %q at lines %v, want %q at lines %v", tt.in, got, lines, tt.want, tt.lines)
			}
		})
	}
}
