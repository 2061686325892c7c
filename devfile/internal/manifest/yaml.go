package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// Doc is one document of a YAML stream and the line it starts on.
type Doc struct {
	Text string
	Line int
}

// Split splits a YAML stream into documents, keeping each document's
// text as written and the line it starts on. It is devloop's one YAML
// splitter: Parse uses it, and so do decode_yaml, read_yaml and helm().
// A line "---", or "---" followed by a space, a tab or a comment, starts a
// document (text after "--- " belongs to the new document, as in YAML); a
// line "..." ends one, and no empty document follows it.
func Split(text string) []Doc {
	var docs []Doc
	var cur strings.Builder
	start := 1
	// ended is set when "..." closed the last document.
	ended := false
	flush := func(next int) {
		if !ended || strings.TrimSpace(cur.String()) != "" {
			docs = append(docs, Doc{Text: cur.String(), Line: start})
		}
		cur.Reset()
		start, ended = next, false
	}
	lineNo := 0
	for line := range strings.Lines(text) {
		lineNo++
		bare := strings.TrimRight(line, " \t\r\n")
		if rest, ok := strings.CutPrefix(bare, "---"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '#') {
			if rest == "" {
				flush(lineNo + 1)
				continue
			}
			flush(lineNo)
			if rest = strings.TrimSpace(rest); rest != "" && !strings.HasPrefix(rest, "#") {
				cur.WriteString(rest + "\n")
			}
			continue
		}
		if bare == "..." {
			flush(lineNo + 1)
			ended = true
			continue
		}
		cur.WriteString(line)
	}
	flush(lineNo + 1)
	return docs
}

// Parse splits text into Kubernetes objects: documents that are empty
// or hold only comments are skipped, and List kinds are flattened into their
// items. source names the text in errors ("deploy/app.yaml", "helm: ./chart").
func Parse(text, source string) ([]*Object, error) {
	var out []*Object
	for i, doc := range Split(text) {
		content, err := decodeYAMLMap(doc.Text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: YAML document %d: %w", source, doc.Line, i+1, err)
		}
		if content == nil {
			continue
		}
		objs, err := objectsFromContent(content, doc.Text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: YAML document %d: %w", source, doc.Line, i+1, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

// decodeYAMLMap decodes one YAML document; an empty document gives nil.
func decodeYAMLMap(text string) (map[string]any, error) {
	js, err := yaml.YAMLToJSON([]byte(text))
	if err != nil {
		return nil, err
	}
	js = bytes.TrimSpace(js)
	if len(js) == 0 || string(js) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a Kubernetes object (want a mapping with apiVersion, kind and metadata, got %s)", jsonKind(v))
	}
	return m, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// objectsFromContent turns one decoded document into objects, flattening Lists.
func objectsFromContent(content map[string]any, text string) ([]*Object, error) {
	kind, _ := content["kind"].(string)
	if items, ok := content["items"].([]any); ok && strings.HasSuffix(kind, "List") {
		var out []*Object
		for j, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s item %d is %s, want an object", kind, j+1, jsonKind(it))
			}
			o, err := New(m, "")
			if err != nil {
				return nil, fmt.Errorf("%s item %d: %w", kind, j+1, err)
			}
			out = append(out, o)
		}
		return out, nil
	}
	o, err := New(content, text)
	if err != nil {
		return nil, err
	}
	return []*Object{o}, nil
}

// New checks content's identity fields; text empty means encode content.
func New(content map[string]any, text string) (*Object, error) {
	for _, f := range []string{"name", "namespace"} {
		if v := Lookup(content, "metadata", f); v != nil {
			if _, ok := v.(string); !ok {
				return nil, fmt.Errorf("metadata.%s is %s, want a string: quote it (YAML reads y, n, yes, no, on, off and numbers as other types)", f, jsonKind(v))
			}
		}
	}
	o := &Object{Content: content}
	o.APIVersion, _ = content["apiVersion"].(string)
	o.Kind, _ = content["kind"].(string)
	o.Name, _ = Lookup(content, "metadata", "name").(string)
	o.Namespace, _ = Lookup(content, "metadata", "namespace").(string)
	switch {
	case o.APIVersion == "":
		return nil, fmt.Errorf("object has no apiVersion: every Kubernetes object needs apiVersion and kind")
	case o.Kind == "":
		return nil, fmt.Errorf("object has no kind: every Kubernetes object needs apiVersion and kind")
	case o.Name == "" && Lookup(content, "metadata", "generateName") == nil:
		return nil, fmt.Errorf("%s has no metadata.name", o.Kind)
	}
	if text == "" {
		enc, err := Encode(content)
		if err != nil {
			return nil, err
		}
		text = enc
	}
	o.YAML = text
	return o, nil
}

// Encode encodes an object as one YAML document.
func Encode(content map[string]any) (string, error) {
	b, err := yaml.Marshal(content)
	if err != nil {
		return "", fmt.Errorf("encoding %v as YAML: %w", content["kind"], err)
	}
	return string(b), nil
}

// Join joins objects into one YAML stream.
func Join(objs []*Object) string {
	var b strings.Builder
	for i, o := range objs {
		if i > 0 {
			b.WriteString("---\n")
		}
		text := o.YAML
		b.WriteString(text)
		if !strings.HasSuffix(text, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// MaxInputFile bounds the files the Kubernetes builtins and extensions read
// (YAML, env files, ConfigMap sources): Kubernetes rejects objects over
// about 1.5 MB and etcd values over a few MB, so 64 MiB is far beyond any
// real input while still failing fast on a mistake like /dev/zero.
const MaxInputFile = 64 << 20

// ReadFile reads a regular file of at most MaxInputFile bytes. Devices,
// FIFOs and directories are refused instead of blocking or failing oddly.
func ReadFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return nil, &fs.PathError{Op: "read", Path: p, Err: fmt.Errorf("is a directory")}
		}
		return nil, &fs.PathError{Op: "read", Path: p, Err: fmt.Errorf("not a regular file")}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxInputFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxInputFile {
		return nil, fmt.Errorf("%s is larger than %d MiB", p, MaxInputFile>>20)
	}
	return data, nil
}
