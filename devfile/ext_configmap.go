package devfile

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"go.starlark.net/starlark"

	"github.com/devloop-dev/devloop/devfile/internal/manifest"
)

// The configmap and secret extensions build the objects that
// `kubectl create configmap|secret ... --dry-run=client -o yaml` prints,
// without kubectl.

// configmapExt is ext://configmap.
func (s *state) configmapExt() starlark.StringDict {
	return builtins(map[string]builtinFunc{
		"configmap_yaml":      s.dataObjectYAML("ConfigMap"),
		"configmap_create":    s.dataObjectCreate("ConfigMap"),
		"configmap_from_dict": s.dataObjectFromDict("ConfigMap"),
	})
}

// secretExt is ext://secret.
func (s *state) secretExt() starlark.StringDict {
	return builtins(map[string]builtinFunc{
		"secret_yaml_generic":   s.dataObjectYAML("Secret"),
		"secret_create_generic": s.dataObjectCreate("Secret"),
		"secret_from_dict":      s.dataObjectFromDict("Secret"),
		"secret_yaml_tls":       s.secretTLS(false),
		"secret_create_tls":     s.secretTLS(true),

		"secret_yaml_registry":          s.secretYAMLRegistry,
		"secret_yaml_docker_registry":   s.secretDockerRegistry(false),
		"secret_create_docker_registry": s.secretDockerRegistry(true),
	})
}

// dataKeyRE is the syntax of ConfigMap and Secret keys.
var dataKeyRE = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

// dataObject collects the keys of a ConfigMap or Secret.
type dataObject struct {
	kind, name, namespace, secretType string
	data                              map[string][]byte
	order                             []string
}

func (d *dataObject) add(key string, value []byte) error {
	if !dataKeyRE.MatchString(key) || key == "." || key == ".." {
		return fmt.Errorf("%q is not a valid key: use letters, digits, '-', '_' and '.'", key)
	}
	if _, dup := d.data[key]; dup {
		return fmt.Errorf("key %q is given twice", key)
	}
	d.data[key] = value
	d.order = append(d.order, key)
	return nil
}

// object returns the object; ConfigMap values that are not UTF-8 go to
// binaryData, Secret values are base64 as always.
func (d *dataObject) object() (*manifest.Object, error) {
	meta := map[string]any{"name": d.name}
	if d.namespace != "" {
		meta["namespace"] = d.namespace
	}
	content := map[string]any{"apiVersion": "v1", "kind": d.kind, "metadata": meta}
	data, binary := map[string]any{}, map[string]any{}
	for _, k := range d.order {
		v := d.data[k]
		switch {
		case d.kind == "Secret":
			data[k] = base64.StdEncoding.EncodeToString(v)
		case utf8.Valid(v):
			data[k] = string(v)
		default:
			binary[k] = base64.StdEncoding.EncodeToString(v)
		}
	}
	if len(data) > 0 {
		content["data"] = data
	}
	if len(binary) > 0 {
		content["binaryData"] = binary
	}
	if d.kind == "Secret" {
		t := d.secretType
		if t == "" {
			t = "Opaque"
		}
		content["type"] = t
	}
	return manifest.New(content, "")
}

func newDataObject(kind, name, namespace string) (*dataObject, error) {
	if err := checkDNSSubdomain(name); err != nil {
		return nil, fmt.Errorf("name %q: %w", name, err)
	}
	if namespace != "" {
		if err := checkDNSLabel(namespace); err != nil {
			return nil, fmt.Errorf("namespace %q: %w", namespace, err)
		}
	}
	return &dataObject{kind: kind, name: name, namespace: namespace, data: map[string][]byte{}}, nil
}

// checkDNSSubdomain checks an object name (RFC 1123 subdomain).
func checkDNSSubdomain(name string) error {
	if name == "" || len(name) > 253 {
		return errors.New("want 1 to 253 characters")
	}
	for _, part := range strings.Split(name, ".") {
		if checkDNSLabel(part) != nil {
			return errors.New("use lower-case letters, digits, '-' and '.'")
		}
	}
	return nil
}

// fromFiles adds --from-file sources: "PATH" (key: the file's base name),
// "KEY=PATH", or a directory (each regular file in it, by base name).
// Files are dependencies when watch is set.
func (s *state) fromFiles(thread *starlark.Thread, d *dataObject, specs []string, watch bool) error {
	for _, spec := range specs {
		key, p, hasKey := strings.Cut(spec, "=")
		if !hasKey {
			p, key = spec, ""
		}
		if p == "" {
			return fmt.Errorf("from_file %q: the path is empty", spec)
		}
		abs := s.absPath(thread, p)
		if watch {
			s.addDep(abs)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return fmt.Errorf("from_file %q: %s does not exist (paths are relative to the directory of the file whose top level is running)", spec, p)
		}
		if fi.IsDir() {
			if hasKey {
				return fmt.Errorf("from_file %q: a directory cannot have a key: drop \"%s=\"", spec, key)
			}
			entries, err := os.ReadDir(abs)
			if err != nil {
				return fmt.Errorf("from_file %q: %w", spec, err)
			}
			for _, e := range entries {
				if !e.Type().IsRegular() {
					continue
				}
				fp := filepath.Join(abs, e.Name())
				if watch {
					s.addDep(fp)
				}
				data, err := manifest.ReadFile(fp)
				if err != nil {
					return fmt.Errorf("from_file %q: %w", spec, err)
				}
				if err := d.add(e.Name(), data); err != nil {
					return fmt.Errorf("from_file %q: %w", spec, err)
				}
			}
			continue
		}
		data, err := manifest.ReadFile(abs)
		if err != nil {
			return fmt.Errorf("from_file %q: %w", spec, err)
		}
		if key == "" {
			key = filepath.Base(abs)
		}
		if err := d.add(key, data); err != nil {
			return fmt.Errorf("from_file %q: %w", spec, err)
		}
	}
	return nil
}

// envKeyRE is what kubectl accepts as a key in an env file.
var envKeyRE = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)

// fromEnvFile adds the KEY=VALUE lines of an env file as kubectl's
// --from-env-file reads them: '#' lines and blank lines skipped, leading
// space trimmed, the value taken verbatim (no quote removal), a bare KEY
// taking its value from the environment.
func (s *state) fromEnvFile(thread *starlark.Thread, d *dataObject, p string, watch bool) error {
	abs := s.absPath(thread, p)
	if watch {
		s.addDep(abs)
	}
	data, err := manifest.ReadFile(abs)
	if err != nil {
		return fmt.Errorf("from_env_file %q: %s does not exist (paths are relative to the directory of the file whose top level is running)", p, p)
	}
	text := strings.TrimPrefix(string(data), "\uFEFF")
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line = strings.TrimLeft(line, " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			value, ok = s.env.vars[key]
			if !ok {
				continue
			}
		}
		if !envKeyRE.MatchString(key) {
			return fmt.Errorf("%s:%d: %q is not a valid key", p, i+1, key)
		}
		if err := d.add(key, []byte(value)); err != nil {
			return fmt.Errorf("%s:%d: %w", p, i+1, err)
		}
	}
	return nil
}

// dataObjectYAML implements configmap_yaml(name, namespace="",
// from_file=None, watch=True, from_env_file=None) and
// secret_yaml_generic(name, namespace="", from_file=None, secret_type=None,
// from_env_file=None), returning a blob.
func (s *state) dataObjectYAML(kind string) builtinFunc {
	return func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		o, err := s.dataObjectFromArgs(kind, thread, fn, args, kwargs)
		if err != nil {
			return nil, err
		}
		return &Blob{Text: o.YAML, Source: fn.Name() + "(" + o.Name + ")"}, nil
	}
}

// dataObjectCreate implements configmap_create and secret_create_generic:
// k8s_yaml of what the _yaml form returns.
func (s *state) dataObjectCreate(kind string) builtinFunc {
	return func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		o, err := s.dataObjectFromArgs(kind, thread, fn, args, kwargs)
		if err != nil {
			return nil, err
		}
		return starlark.None, s.registerObjects(thread, fn.Name(), []*manifest.Object{o}, false)
	}
}

func (s *state) dataObjectFromArgs(kind string, thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (*manifest.Object, error) {
	var name, namespace string
	var fromFile, fromEnvFile, secretType starlark.Value
	watch := true
	pairs := []any{"name", &name, "namespace?", &namespace, "from_file?", &fromFile}
	if kind == "Secret" {
		pairs = append(pairs, "secret_type?", &secretType, "from_env_file?", &fromEnvFile)
	} else {
		pairs = append(pairs, "watch?", &watch, "from_env_file?", &fromEnvFile)
	}
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, pairs...); err != nil {
		return nil, err
	}
	d, err := newDataObject(kind, name, namespace)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	files, err := stringsFromValue("from_file", fromFile)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", fn.Name(), name, err)
	}
	var envFile string
	switch v := fromEnvFile.(type) {
	case nil, starlark.NoneType:
	case starlark.String:
		envFile = string(v)
	default:
		return nil, fmt.Errorf("%s %q: from_env_file: got %s, want one path (kubectl would read only the last of a list)", fn.Name(), name, v.Type())
	}
	if kind == "ConfigMap" && len(files) > 0 && envFile != "" {
		return nil, fmt.Errorf("%s %q: pass from_file or from_env_file, not both", fn.Name(), name)
	}
	if len(files) == 0 && envFile == "" {
		return nil, fmt.Errorf("%s %q: no data: pass from_file=[\"key=path\", ...] or from_env_file=\"path\"", fn.Name(), name)
	}
	if err := s.fromFiles(thread, d, files, watch); err != nil {
		return nil, fmt.Errorf("%s %q: %w", fn.Name(), name, err)
	}
	if envFile != "" {
		if err := s.fromEnvFile(thread, d, envFile, watch); err != nil {
			return nil, fmt.Errorf("%s %q: %w", fn.Name(), name, err)
		}
	}
	if t, ok := starlark.AsString(secretType); ok {
		d.secretType = t
	} else if secretType != nil && secretType != starlark.None {
		return nil, fmt.Errorf("%s %q: secret_type: got %s, want a string such as \"kubernetes.io/dockerconfigjson\"", fn.Name(), name, secretType.Type())
	}
	o, err := d.object()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	return o, nil
}

// dataObjectFromDict implements configmap_from_dict(name, namespace="",
// inputs={}) and secret_from_dict(name, namespace="", inputs={}).
func (s *state) dataObjectFromDict(kind string) builtinFunc {
	return func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var name, namespace string
		var inputs starlark.Value
		if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &name, "namespace?", &namespace, "inputs?", &inputs); err != nil {
			return nil, err
		}
		d, err := newDataObject(kind, name, namespace)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name(), err)
		}
		if _, ok := inputs.(*starlark.Dict); !ok && inputs != nil {
			return nil, fmt.Errorf("%s %q: inputs: got %s, want a dict of strings", fn.Name(), name, inputs.Type())
		}
		m, err := stringMapFromValue("inputs", inputs)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", fn.Name(), name, err)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := d.add(k, []byte(m[k])); err != nil {
				return nil, fmt.Errorf("%s %q: inputs: %w", fn.Name(), name, err)
			}
		}
		o, err := d.object()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name(), err)
		}
		return &Blob{Text: o.YAML, Source: fn.Name() + "(" + name + ")"}, nil
	}
}

// secretTLS implements secret_yaml_tls(name, cert, key, namespace="") and,
// with register, secret_create_tls: a kubernetes.io/tls Secret from PEM
// files, checked to be a matching pair as kubectl does.
func (s *state) secretTLS(register bool) builtinFunc {
	return func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var name, cert, key, namespace string
		if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &name, "cert", &cert, "key", &key, "namespace?", &namespace); err != nil {
			return nil, err
		}
		d, err := newDataObject("Secret", name, namespace)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name(), err)
		}
		d.secretType = "kubernetes.io/tls"
		read := func(what, p string) ([]byte, error) {
			abs := s.absPath(thread, p)
			s.addDep(abs)
			data, err := manifest.ReadFile(abs)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %s %s does not exist (paths are relative to the directory of the file whose top level is running)", fn.Name(), name, what, p)
			}
			return data, nil
		}
		certPEM, err := read("cert", cert)
		if err != nil {
			return nil, err
		}
		keyPEM, err := read("key", key)
		if err != nil {
			return nil, err
		}
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			return nil, fmt.Errorf("%s %q: %s and %s are not a PEM certificate and its private key: %w", fn.Name(), name, cert, key, err)
		}
		_ = d.add("tls.crt", certPEM)
		_ = d.add("tls.key", keyPEM)
		o, err := d.object()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name(), err)
		}
		if register {
			return starlark.None, s.registerObjects(thread, fn.Name(), []*manifest.Object{o}, false)
		}
		return &Blob{Text: o.YAML, Source: fn.Name() + "(" + name + ")"}, nil
	}
}

// dockerHubServer is kubectl's default --docker-server.
const dockerHubServer = "https://index.docker.io/v1/"

// secretYAMLRegistry implements secret_yaml_registry(name, namespace="",
// flags_dict={}): the older form taking kubectl's docker-registry flags
// (docker-server, docker-username, docker-password, docker-email) as a dict.
func (s *state) secretYAMLRegistry(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name, namespace string
	var flagsV starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &name, "namespace?", &namespace, "flags_dict?", &flagsV); err != nil {
		return nil, err
	}
	flags, err := stringMapFromValue("flags_dict", flagsV)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", fn.Name(), name, err)
	}
	for k := range flags {
		switch k {
		case "docker-server", "docker-username", "docker-password", "docker-email":
		default:
			return nil, fmt.Errorf("%s %q: flags_dict: %q is not a docker-registry flag (docker-server, docker-username, docker-password, docker-email)", fn.Name(), name, k)
		}
	}
	return s.dockerRegistrySecret(thread, fn.Name(), name, flags["docker-username"], flags["docker-password"], flags["docker-server"], flags["docker-email"], namespace, false)
}

// secretDockerRegistry implements secret_yaml_docker_registry(name,
// username, password, server="", namespace="") and, with register,
// secret_create_docker_registry: a kubernetes.io/dockerconfigjson Secret as
// kubectl create secret docker-registry makes it.
func (s *state) secretDockerRegistry(register bool) builtinFunc {
	return func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var name, username, password, server, namespace string
		if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &name, "username", &username, "password", &password, "server?", &server, "namespace?", &namespace); err != nil {
			return nil, err
		}
		return s.dockerRegistrySecret(thread, fn.Name(), name, username, password, server, "", namespace, register)
	}
}

// dockerRegistrySecret builds (and with register, registers) a
// kubernetes.io/dockerconfigjson Secret.
func (s *state) dockerRegistrySecret(thread *starlark.Thread, fnName, name, username, password, server, email, namespace string, register bool) (starlark.Value, error) {
	if username == "" {
		return nil, fmt.Errorf("%s %q: the username is empty", fnName, name)
	}
	if server == "" {
		server = dockerHubServer
	}
	d, err := newDataObject("Secret", name, namespace)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fnName, err)
	}
	d.secretType = "kubernetes.io/dockerconfigjson"
	type entry struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Email    string `json:"email,omitempty"`
		Auth     string `json:"auth"`
	}
	cfg := map[string]map[string]entry{"auths": {server: {
		Username: username,
		Password: password,
		Email:    email,
		Auth:     base64.StdEncoding.EncodeToString([]byte(username + ":" + password)),
	}}}
	js, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", fnName, name, err)
	}
	_ = d.add(".dockerconfigjson", js)
	o, err := d.object()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fnName, err)
	}
	if register {
		return starlark.None, s.registerObjects(thread, fnName, []*manifest.Object{o}, false)
	}
	return &Blob{Text: o.YAML, Source: fnName + "(" + name + ")"}, nil
}
