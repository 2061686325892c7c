package devfile

import (
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

const (
	buttonLocationResource = "resource"
	buttonLocationNav      = "nav"
)

// buttonDecl is a cmd_button call.
type buttonDecl struct {
	Button
	pos syntax.Position
}

// inputValue is the Starlark value of text_input, bool_input and choice_input.
type inputValue struct{ ButtonInput }

func (v inputValue) String() string        { return fmt.Sprintf("%s_input(%q)", v.ButtonInput.Type, v.Name) }
func (v inputValue) Type() string          { return "ui_input" }
func (v inputValue) Freeze()               {}
func (v inputValue) Truth() starlark.Bool  { return true }
func (v inputValue) Hash() (uint32, error) { return starlark.String(v.Name).Hash() }

// uibuttonExt is ext://uibutton.
func (s *state) uibuttonExt() starlark.StringDict {
	d := builtins(map[string]builtinFunc{
		"cmd_button":   s.cmdButton,
		"text_input":   textInput,
		"bool_input":   boolInput,
		"choice_input": choiceInput,
	})
	d["location"] = locationStruct()
	return d
}

// cmdButton implements cmd_button(name, resource="", argv=[], text=None,
// location=location.RESOURCE, icon_name=None, icon_svg=None, inputs=[],
// disabled=False, requires_confirmation=False, env=[], dir=config.main_dir).
func (s *state) cmdButton(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name, resource, location string = "", "", buttonLocationResource
	var argvV, textV, iconName, iconSVG, inputsV, envV, dirV starlark.Value
	var disabled, confirm bool
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"name", &name, "resource?", &resource, "argv?", &argvV, "text?", &textV,
		"location?", &location, "icon_name?", &iconName, "icon_svg?", &iconSVG,
		"inputs?", &inputsV, "disabled?", &disabled, "requires_confirmation?", &confirm,
		"env?", &envV, "dir?", &dirV); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("%s: name is empty: give the button a unique name", fn.Name())
	}
	b := Button{Name: name, Resource: resource, Location: location, Disabled: disabled, RequiresConfirmation: confirm}
	switch location {
	case buttonLocationResource:
		if resource == "" {
			return nil, fmt.Errorf("%s %q: resource= is required for a button shown with a resource (or pass location=location.NAV)", fn.Name(), name)
		}
	case buttonLocationNav:
	default:
		return nil, fmt.Errorf("%s %q: location %q is not location.RESOURCE (%q) or location.NAV (%q)", fn.Name(), name, location, buttonLocationResource, buttonLocationNav)
	}
	argv, err := stringsFromValue("argv", argvV)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", fn.Name(), name, err)
	}
	if _, isStr := argvV.(starlark.String); isStr {
		return nil, fmt.Errorf("%s %q: argv is a string: pass a list, e.g. [\"sh\", \"-c\", %q]", fn.Name(), name, argv[0])
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, fmt.Errorf("%s %q: argv is empty: pass the command to run, e.g. [\"make\", \"seed\"]", fn.Name(), name)
	}
	b.Argv = argv
	b.Text = name
	if t, ok := starlark.AsString(textV); ok && t != "" {
		b.Text = t
	}
	b.IconName, _ = starlark.AsString(iconName)
	switch v := iconSVG.(type) {
	case starlark.String:
		b.IconSVG = string(v)
	case *Blob:
		b.IconSVG = v.Text
	}
	if d, ok := envV.(*starlark.Dict); ok {
		m, err := stringMapFromValue("env", d)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", fn.Name(), name, err)
		}
		for _, k := range sortedNames(m) {
			b.Env = append(b.Env, k+"="+m[k])
		}
	} else {
		env, err := stringsFromValue("env", envV)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", fn.Name(), name, err)
		}
		for _, e := range env {
			if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
				return nil, fmt.Errorf("%s %q: env: %q is not KEY=VALUE", fn.Name(), name, e)
			}
		}
		b.Env = env
	}
	b.Dir = s.mainDir
	if d, ok := starlark.AsString(dirV); ok && d != "" {
		b.Dir = s.absPath(thread, d)
	}
	if inputsV != nil && inputsV != starlark.None {
		it, ok := inputsV.(starlark.Iterable)
		if !ok {
			return nil, fmt.Errorf("%s %q: inputs: got %s, want a list of text_input(), bool_input() or choice_input()", fn.Name(), name, inputsV.Type())
		}
		iter := it.Iterate()
		defer iter.Done()
		seen := map[string]bool{}
		var x starlark.Value
		for iter.Next(&x) {
			in, ok := x.(inputValue)
			if !ok {
				return nil, fmt.Errorf("%s %q: inputs: %s is %s, want text_input(), bool_input() or choice_input()", fn.Name(), name, x, x.Type())
			}
			if seen[in.Name] {
				return nil, fmt.Errorf("%s %q: inputs: two inputs are named %q", fn.Name(), name, in.Name)
			}
			seen[in.Name] = true
			b.Inputs = append(b.Inputs, in.ButtonInput)
		}
	}
	for _, prev := range s.k8s.buttons {
		if prev.Name == name {
			return nil, fmt.Errorf("%s: a button named %q was already declared at %s: give each button a unique name", fn.Name(), name, prev.pos)
		}
	}
	s.k8s.buttons = append(s.k8s.buttons, buttonDecl{Button: b, pos: callPos(thread)})
	return starlark.None, nil
}

// finishButtons adds the buttons to m, checking that their resources exist.
func (s *state) finishButtons(m *Model) error {
	if len(s.k8s.buttons) == 0 {
		return nil
	}
	names := map[string]bool{}
	for _, r := range m.Resources {
		names[r.Name] = true
	}
	for _, l := range s.locals {
		names[l.Name] = true
	}
	for _, b := range s.k8s.buttons {
		if b.Resource != "" && !names[b.Resource] {
			known := make([]string, 0, len(names))
			for n := range names {
				known = append(known, n)
			}
			sort.Strings(known)
			list := "there are no resources"
			if len(known) > 0 {
				list = "the resources are " + strings.Join(quoteAll(known), ", ")
			}
			return errorAt(b.pos, "cmd_button %q: resource %q does not exist: %s", b.Name, b.Resource, list)
		}
		m.Buttons = append(m.Buttons, b.Button)
	}
	return nil
}

func checkInputName(fnName, name string) error {
	if name == "" {
		return fmt.Errorf("%s: name is empty: it names the environment variable the command receives", fnName)
	}
	for i, c := range name {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return fmt.Errorf("%s: name %q is not an environment variable name (letters, digits and '_', not starting with a digit)", fnName, name)
		}
	}
	return nil
}

// textInput implements text_input(name, label="", default="", placeholder="").
func textInput(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	in := ButtonInput{Type: "text"}
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &in.Name, "label?", &in.Label, "default?", &in.Default, "placeholder?", &in.Placeholder); err != nil {
		return nil, err
	}
	if err := checkInputName(fn.Name(), in.Name); err != nil {
		return nil, err
	}
	return inputValue{in}, nil
}

// boolInput implements bool_input(name, label="", default=False,
// true_string=None, false_string=None).
func boolInput(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	in := ButtonInput{Type: "bool"}
	var def bool
	var t, f starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &in.Name, "label?", &in.Label, "default?", &def, "true_string?", &t, "false_string?", &f); err != nil {
		return nil, err
	}
	if err := checkInputName(fn.Name(), in.Name); err != nil {
		return nil, err
	}
	in.Default = fmt.Sprint(def)
	in.TrueString, _ = starlark.AsString(t)
	in.FalseString, _ = starlark.AsString(f)
	return inputValue{in}, nil
}

// choiceInput implements choice_input(name, label="", choices=[]).
func choiceInput(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	in := ButtonInput{Type: "choice"}
	var choices starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &in.Name, "label?", &in.Label, "choices?", &choices); err != nil {
		return nil, err
	}
	if err := checkInputName(fn.Name(), in.Name); err != nil {
		return nil, err
	}
	cs, err := stringsFromValue("choices", choices)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("%s %q: choices is empty: list the values to choose from", fn.Name(), in.Name)
	}
	in.Choices = cs
	in.Default = cs[0]
	return inputValue{in}, nil
}
