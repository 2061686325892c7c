package devfile

import (
	"fmt"

	"go.starlark.net/starlark"
)

// Blob is the Starlark value of blob() and of what local(), read_file(),
// helm() and kustomize() return: text that k8s_yaml accepts as YAML.
type Blob struct {
	Text string
	// Source says where the text came from ("helm template ./chart"), for errors.
	Source string
}

var _ starlark.Value = (*Blob)(nil)

func (b *Blob) String() string        { return b.Text }
func (b *Blob) Type() string          { return "blob" }
func (b *Blob) Freeze()               {}
func (b *Blob) Truth() starlark.Bool  { return len(b.Text) > 0 }
func (b *Blob) Hash() (uint32, error) { return starlark.String(b.Text).Hash() }

// GoString helps test failure messages.
func (b *Blob) GoString() string { return fmt.Sprintf("blob(%q)", b.Text) }
