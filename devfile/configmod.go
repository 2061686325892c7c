package devfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// configFiles are the files config.parse() reads settings from, in the main
// Devfile's directory; the first that exists wins. tilt_config.json keeps
// Tiltfile projects working unchanged.
var configFiles = []string{"devloop_config.json", "tilt_config.json"}

// configState is what config.define_* and config.parse recorded.
type configState struct {
	defs        map[string]*configDef
	order       []string
	positional  string
	parseCalled bool
}

type configKind int

const (
	configString configKind = iota
	configStringList
	configBool
	configObject
)

type configDef struct {
	kind  configKind
	usage string
}

// configValue collects one setting's value while parsing (a flag.Value).
type configValue struct {
	kind configKind
	set  bool
	str  string
	list []string
	b    bool
	obj  starlark.Value
}

func (v *configValue) String() string {
	switch v.kind {
	case configStringList:
		return strings.Join(v.list, ",")
	case configBool:
		return strconv.FormatBool(v.b)
	case configObject:
		if v.obj == nil {
			return "None"
		}
		return v.obj.String()
	}
	return v.str
}

func (v *configValue) Set(s string) error {
	switch v.kind {
	case configStringList:
		v.list = append(v.list, s)
	case configBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not a bool (true or false)", s)
		}
		v.b = b
	case configObject:
		if v.set {
			return fmt.Errorf("an object setting takes one value, got a second: %s", s)
		}
		obj, err := decodeJSONText(s)
		if err != nil {
			return err
		}
		v.obj = obj
	default:
		v.str = s
	}
	v.set = true
	return nil
}

// IsBoolFlag lets "--flag" alone set a bool setting, as flag.Bool does.
func (v *configValue) IsBoolFlag() bool { return v.kind == configBool }

func (v *configValue) fromJSON(x any) error {
	switch v.kind {
	case configStringList:
		l, ok := x.([]any)
		if !ok {
			return fmt.Errorf("got %T, want a list of strings", x)
		}
		for _, e := range l {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("list element %v is %T, want a string", e, e)
			}
			v.list = append(v.list, s)
		}
	case configBool:
		b, ok := x.(bool)
		if !ok {
			return fmt.Errorf("got %T, want true or false", x)
		}
		v.b = b
	case configObject:
		obj, err := fromGo(x, 0)
		if err != nil {
			return err
		}
		v.obj = obj
	default:
		s, ok := x.(string)
		if !ok {
			return fmt.Errorf("got %T, want a string", x)
		}
		v.str = s
	}
	v.set = true
	return nil
}

func (v *configValue) starlark() starlark.Value {
	switch v.kind {
	case configStringList:
		return toStarlarkList(v.list)
	case configBool:
		return starlark.Bool(v.b)
	case configObject:
		if v.obj == nil {
			return starlark.None
		}
		return v.obj
	}
	return starlark.String(v.str)
}

func (s *state) configModule() *starlarkstruct.Module {
	def := func(kind configKind) builtinFunc {
		return func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var name, usage string
			var isArgs bool
			if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &name, "args?", &isArgs, "usage?", &usage); err != nil {
				return nil, err
			}
			return starlark.None, s.config.define(name, kind, isArgs, usage)
		}
	}
	b := func(name string, fn builtinFunc) *starlark.Builtin { return starlark.NewBuiltin("config."+name, fn) }
	sub := s.opts.Subcommand
	return &starlarkstruct.Module{Name: "config", Members: starlark.StringDict{
		"define_string":         b("define_string", def(configString)),
		"define_string_list":    b("define_string_list", def(configStringList)),
		"define_bool":           b("define_bool", def(configBool)),
		"define_object":         b("define_object", def(configObject)),
		"parse":                 b("parse", s.configParse),
		"set_enabled_resources": b("set_enabled_resources", s.setEnabledResources),
		"clear_enabled_resources": b("clear_enabled_resources", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
			return nil, errors.New(unsupportedMessage("config.clear_enabled_resources", "use config.set_enabled_resources"))
		}),
		"tilt_subcommand": starlark.String(sub),
		"main_dir":        starlark.String(s.mainDir),
		"main_path":       starlark.String(s.mainPath),
	}}
}

func (c *configState) define(name string, kind configKind, isArgs bool, usage string) error {
	if name == "" {
		return errors.New("name is empty: name the setting")
	}
	if strings.HasPrefix(name, "-") || strings.Contains(name, "=") {
		return fmt.Errorf("name %q may not start with '-' or contain '=': it becomes the flag --%s", name, strings.TrimLeft(name, "-"))
	}
	if c.parseCalled {
		return fmt.Errorf("setting %q is defined after config.parse(): define every setting before calling config.parse()", name)
	}
	if c.defs == nil {
		c.defs = map[string]*configDef{}
	}
	if _, ok := c.defs[name]; ok {
		return fmt.Errorf("setting %q is defined twice: define it once", name)
	}
	if isArgs {
		if c.positional != "" {
			return fmt.Errorf("settings %q and %q both take the positional args (args=True): only one may", c.positional, name)
		}
		c.positional = name
	}
	c.defs[name] = &configDef{kind: kind, usage: usage}
	c.order = append(c.order, name)
	return nil
}

// configParse implements config.parse(): settings from devloop_config.json
// (or tilt_config.json) in execDir (beside the Devfile, unless a loaded
// file's top level calls it, as in Tilt), overridden by the args
// after "--" on the command line.
func (s *state) configParse(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs); err != nil {
		return nil, err
	}
	c := &s.config
	c.parseCalled = true
	values := map[string]*configValue{}
	fresh := func(name string) *configValue {
		return &configValue{kind: c.defs[name].kind}
	}
	// Settings file.
	for _, name := range configFiles {
		p := filepath.Join(execDir(thread), name)
		s.addDep(p)
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() || fi.Size() > maxReadSize {
			return nil, fmt.Errorf("%s is not a regular file of at most %d bytes: remove it or replace it with a JSON object", p, maxReadSize)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("%s: invalid JSON: %w", p, err)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, ok := c.defs[k]; !ok {
				return nil, fmt.Errorf("%s sets %q, which the Devfile does not define: define it with config.define_*() or remove it", p, k)
			}
			v := fresh(k)
			if err := v.fromJSON(m[k]); err != nil {
				return nil, fmt.Errorf("%s: setting %q: %w", p, k, err)
			}
			values[k] = v
		}
		break
	}
	// Command-line args override the file.
	fs := flag.NewFlagSet("devloop -- ", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fromArgs := map[string]*configValue{}
	for _, name := range c.order {
		v := fresh(name)
		fromArgs[name] = v
		if name != c.positional {
			fs.Var(v, name, c.defs[name].usage)
		}
	}
	fs.Usage = func() {}
	if err := fs.Parse(s.opts.Args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, fmt.Errorf("the Devfile's settings (pass them after --):\n%s", c.usage())
		}
		return nil, fmt.Errorf("args after --: %v; the Devfile's settings are:\n%s", err, c.usage())
	}
	if rest := fs.Args(); len(rest) > 0 {
		if c.positional == "" {
			return nil, fmt.Errorf("args after -- include positional args %q but no setting takes them: define one with args=True", rest)
		}
		pv := fromArgs[c.positional]
		if pv.kind == configString && len(rest) > 1 {
			return nil, fmt.Errorf("setting %q takes one positional arg, got %d: %q", c.positional, len(rest), rest)
		}
		for _, a := range rest {
			if err := pv.Set(a); err != nil {
				return nil, fmt.Errorf("setting %q: %w", c.positional, err)
			}
		}
	}
	for name, v := range fromArgs {
		if v.set {
			values[name] = v
		}
	}
	d := starlark.NewDict(len(values))
	for _, name := range c.order {
		if v, ok := values[name]; ok {
			if err := d.SetKey(starlark.String(name), v.starlark()); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

// setEnabledResources implements config.set_enabled_resources(resources).
func (s *state) setEnabledResources(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "resources", &v); err != nil {
		return nil, err
	}
	names, err := stringsFromValue("resources", v)
	if err != nil {
		return nil, err
	}
	if names == nil {
		names = []string{}
	}
	s.enabled = names
	s.enabledPos = callPos(thread)
	return starlark.None, nil
}

// usage lists the defined settings as flags, for errors.
func (c *configState) usage() string {
	if len(c.order) == 0 {
		return "  (none: define them with config.define_string, define_string_list or define_bool)"
	}
	var b strings.Builder
	for i, name := range c.order {
		d := c.defs[name]
		form := "--" + name + "=VALUE"
		switch {
		case name == c.positional:
			form = "ARGS... (positional)"
		case d.kind == configBool:
			form = "--" + name
		case d.kind == configStringList:
			form = "--" + name + "=VALUE (repeatable)"
		case d.kind == configObject:
			form = "--" + name + "=JSON"
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("  " + form)
		if d.usage != "" {
			b.WriteString(": " + d.usage)
		}
	}
	return b.String()
}
