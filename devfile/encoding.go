package devfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"sigs.k8s.io/yaml"

	"github.com/devloop-dev/devloop/devfile/internal/manifest"
)

// maxDecodeDepth bounds nesting when converting values, so that a
// self-referencing list or a hostile document cannot exhaust the stack.
const maxDecodeDepth = 1000

// toGo converts a Starlark value into plain Go data (map[string]any, []any,
// string, int64/*big.Int, float64, bool, nil) for YAML and JSON encoding.
func toGo(v starlark.Value, depth int) (any, error) {
	if depth > maxDecodeDepth {
		return nil, errors.New("value is nested too deeply (a list or dict that contains itself?)")
	}
	switch v := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(v), nil
	case starlark.Int:
		if n, ok := v.Int64(); ok {
			return n, nil
		}
		return json.Number(v.BigInt().String()), nil
	case starlark.Float:
		f := float64(v)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("float %v cannot be encoded", f)
		}
		return f, nil
	case starlark.String:
		return string(v), nil
	case *Blob:
		return v.Text, nil
	case *starlark.Dict:
		out := make(map[string]any, v.Len())
		for _, kv := range v.Items() {
			k, ok := starlark.AsString(kv[0])
			if !ok {
				return nil, fmt.Errorf("dict key %s is %s: only string keys can be encoded", kv[0], kv[0].Type())
			}
			x, err := toGo(kv[1], depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = x
		}
		return out, nil
	case *starlarkstruct.Struct:
		d := starlark.StringDict{}
		v.ToStringDict(d)
		out := make(map[string]any, len(d))
		for k, x := range d {
			g, err := toGo(x, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = g
		}
		return out, nil
	case *starlark.List, starlark.Tuple:
		seq := v.(starlark.Indexable)
		out := make([]any, 0, seq.Len())
		for i := 0; i < seq.Len(); i++ {
			x, err := toGo(seq.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s values cannot be encoded (only None, bool, int, float, string, list, tuple, dict and struct)", v.Type())
}

// fromGo converts decoded JSON data (numbers as json.Number) into Starlark values.
func fromGo(x any, depth int) (starlark.Value, error) {
	if depth > maxDecodeDepth {
		return nil, errors.New("document is nested too deeply")
	}
	switch x := x.(type) {
	case nil:
		return starlark.None, nil
	case bool:
		return starlark.Bool(x), nil
	case string:
		return starlark.String(x), nil
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return starlark.MakeInt64(n), nil
		}
		if b, ok := new(big.Int).SetString(string(x), 10); ok {
			return starlark.MakeBigInt(b), nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", x, err)
		}
		return starlark.Float(f), nil
	case float64:
		return starlark.Float(x), nil
	case []any:
		vs := make([]starlark.Value, 0, len(x))
		for _, e := range x {
			v, err := fromGo(e, depth+1)
			if err != nil {
				return nil, err
			}
			vs = append(vs, v)
		}
		return starlark.NewList(vs), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d := starlark.NewDict(len(x))
		for _, k := range keys {
			v, err := fromGo(x[k], depth+1)
			if err != nil {
				return nil, err
			}
			if err := d.SetKey(starlark.String(k), v); err != nil {
				return nil, err
			}
		}
		return d, nil
	}
	return nil, fmt.Errorf("cannot convert %T", x)
}

// decodeJSONText decodes one JSON value.
func decodeJSONText(text string) (starlark.Value, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: more than one value")
	}
	return fromGo(x, 0)
}

// decodeYAMLDocs decodes every document of a YAML stream, skipping empty ones.
func decodeYAMLDocs(text string) ([]starlark.Value, error) {
	var out []starlark.Value
	for i, doc := range manifest.Split(text) {
		i++
		if strings.TrimSpace(doc.Text) == "" {
			continue
		}
		j, err := yaml.YAMLToJSON([]byte(doc.Text))
		if err != nil {
			return nil, fmt.Errorf("invalid YAML in document %d: %w", i, err)
		}
		v, err := decodeJSONText(string(j))
		if err != nil {
			return nil, fmt.Errorf("YAML document %d: %w", i, err)
		}
		if v == starlark.None {
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

// decodeYAMLOne decodes a stream that must hold at most one document.
func decodeYAMLOne(text string) (starlark.Value, error) {
	docs, err := decodeYAMLDocs(text)
	if err != nil {
		return nil, err
	}
	switch len(docs) {
	case 0:
		return starlark.None, nil
	case 1:
		return docs[0], nil
	}
	return nil, fmt.Errorf("found %d YAML documents (separated by ---) where one was expected: use decode_yaml_stream or read_yaml_stream", len(docs))
}

// encodeYAMLText encodes one value as YAML the way Tilt does: block style,
// two-space indent, keys sorted.
func encodeYAMLText(v starlark.Value) (string, error) {
	g, err := toGo(v, 0)
	if err != nil {
		return "", err
	}
	b, err := yaml.Marshal(g)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// textOf accepts a string or a Blob.
func textOf(what string, v starlark.Value) (string, error) {
	switch v := v.(type) {
	case starlark.String:
		return string(v), nil
	case *Blob:
		return v.Text, nil
	}
	return "", fmt.Errorf("%s: got %s, want a string or blob", what, v.Type())
}

// decoder makes decode_yaml, decode_yaml_stream and decode_json: each takes a
// string or blob as its one argument, named param, and decodes it with decode.
func decoder(param string, decode func(text string) (starlark.Value, error)) builtinFunc {
	return func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var v starlark.Value
		if err := starlark.UnpackArgs(fn.Name(), args, kwargs, param, &v); err != nil {
			return nil, err
		}
		text, err := textOf(param, v)
		if err != nil {
			return nil, err
		}
		return decode(text)
	}
}

// decodeYAMLList decodes a stream of documents into a list.
func decodeYAMLList(text string) (starlark.Value, error) {
	docs, err := decodeYAMLDocs(text)
	if err != nil {
		return nil, err
	}
	return starlark.NewList(docs), nil
}

func encodeYAML(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "obj", &v); err != nil {
		return nil, err
	}
	text, err := encodeYAMLText(v)
	if err != nil {
		return nil, err
	}
	return &Blob{Text: text, Source: "encode_yaml"}, nil
}

func encodeYAMLStream(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "objs", &v); err != nil {
		return nil, err
	}
	seq, ok := v.(starlark.Indexable)
	if !ok {
		return nil, fmt.Errorf("objs: got %s, want a list", v.Type())
	}
	docs := make([]string, 0, seq.Len())
	for i := 0; i < seq.Len(); i++ {
		text, err := encodeYAMLText(seq.Index(i))
		if err != nil {
			return nil, fmt.Errorf("objs[%d]: %w", i, err)
		}
		docs = append(docs, text)
	}
	return &Blob{Text: strings.Join(docs, "---\n"), Source: "encode_yaml_stream"}, nil
}

// encodeJSON encodes like Tilt: two-space indented, keys sorted, trailing newline.
func encodeJSON(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "obj", &v); err != nil {
		return nil, err
	}
	g, err := toGo(v, 0)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(g); err != nil {
		return nil, err
	}
	return &Blob{Text: buf.String(), Source: "encode_json"}, nil
}
