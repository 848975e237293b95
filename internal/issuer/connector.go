package issuer

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LocalName is the name of the built-in CA's issuer (internal/issuer/local),
// the issuer of a profile that names none.
const LocalName = "local"

// Env is what a connector may use besides its own configuration.
type Env struct {
	// Data is the server's data directory; a connector keeps its state
	// (an upstream account key) in Data/issuers/NAME.
	Data string
	// Log receives the connector's events.
	Log *slog.Logger
}

// Connector builds the issuers of one type from their entries in the
// issuers file (docs/issuers.md). The composition root (cmd/certgate)
// lists the connectors it registers; nothing registers itself.
type Connector struct {
	// Type is the value of an entry's type key, e.g. "acme".
	Type string
	// New decodes entry, the whole YAML mapping of one issuer (name and
	// type included), checks it, and returns the issuer named name. It
	// reads the files the entry names but contacts nothing: connectors
	// connect on first use. Errors name the key at fault.
	New func(name string, entry *yaml.Node, env Env) (Issuer, error)
}

// NewConnector returns the Connector of type typ whose entries decode
// strictly (DecodeEntry) into a configuration struct C, which build
// checks and turns into the issuer named name. Errors: DecodeEntry's, or
// build's.
func NewConnector[C any, I Issuer](typ string, build func(name string, c C, env Env) (I, error)) Connector {
	return Connector{Type: typ, New: func(name string, entry *yaml.Node, env Env) (Issuer, error) {
		var c C
		if err := DecodeEntry(entry, &c); err != nil {
			return nil, err
		}
		is, err := build(name, c, env)
		if err != nil {
			return nil, err
		}
		return is, nil
	}}
}

// nameRE is the syntax of an issuer name: that of a profile name
// (internal/policy), so that it can appear in URLs and labels.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// entryHead is what every entry of an issuers file has.
type entryHead struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
}

// file is the issuers file: a mapping with one key, issuers, a list of
// entries.
type file struct {
	Issuers []yaml.Node `yaml:"issuers"`
}

// readFile decodes the issuers file at path into its entries with their
// names and types checked: each name valid, not LocalName, and given once.
func readFile(path string) ([]entryHead, []yaml.Node, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("issuers file: %w", err)
	}
	var f file
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, nil, fmt.Errorf("issuers file %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(root.Content) == 1 && root.Content[0].Kind == yaml.MappingNode {
		m := root.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			if k.Value != "issuers" {
				return nil, nil, fmt.Errorf("issuers file %s: line %d: unknown key %q (the file has one key, issuers: a list of issuers; docs/issuers.md)", path, k.Line, k.Value)
			}
			if v.Kind != yaml.SequenceNode && v.ShortTag() != "!!null" {
				return nil, nil, fmt.Errorf("issuers file %s: line %d: issuers is not a list: write each issuer as a list element (\"- name: ...\"; docs/issuers.md)", path, v.Line)
			}
		}
	}
	if len(root.Content) == 1 && root.Content[0].Kind != yaml.MappingNode && root.Content[0].ShortTag() != "!!null" {
		return nil, nil, fmt.Errorf("issuers file %s: line %d: want the key issuers: with a list of issuers (docs/issuers.md)", path, root.Content[0].Line)
	}
	if len(root.Content) == 1 {
		if err := root.Content[0].Decode(&f); err != nil {
			t := strings.Join(strings.Fields(err.Error()), " ")
			return nil, nil, fmt.Errorf("issuers file %s: %s", path, strings.TrimPrefix(strings.TrimPrefix(t, "yaml: "), "unmarshal errors: "))
		}
	}
	heads := make([]entryHead, len(f.Issuers))
	for i := range f.Issuers {
		h := &heads[i]
		if n := &f.Issuers[i]; n.Kind != yaml.MappingNode {
			return nil, nil, fmt.Errorf("issuers file %s: line %d: issuers[%d] is not a mapping: write each issuer as keys and values (\"- name: NAME\" then \"type: TYPE\" and its settings; docs/issuers.md)",
				path, n.Line, i)
		}
		if err := f.Issuers[i].Decode(h); err != nil {
			t := strings.Join(strings.Fields(err.Error()), " ")
			return nil, nil, fmt.Errorf("issuers file %s: issuers[%d]: %s", path, i, strings.TrimPrefix(strings.TrimPrefix(t, "yaml: "), "unmarshal errors: "))
		}
		switch {
		case !nameRE.MatchString(h.Name):
			return nil, nil, fmt.Errorf("issuers file %s: issuers[%d].name %q: use 1-63 lower-case letters, digits and hyphens", path, i, h.Name)
		case h.Name == LocalName:
			return nil, nil, fmt.Errorf("issuers file %s: issuers[%d].name: %q is the built-in CA", path, i, h.Name)
		case slices.ContainsFunc(heads[:i], func(o entryHead) bool { return o.Name == h.Name }):
			return nil, nil, fmt.Errorf("issuers file %s: issuers[%d].name: %q is given twice", path, i, h.Name)
		case h.Type == "":
			return nil, nil, fmt.Errorf("issuers file %s: issuer %s: type is missing", path, h.Name)
		}
	}
	return heads, f.Issuers, nil
}

// Load builds the issuers configured in the issuers file at path with
// connectors, in file order. An entry whose type no connector has is an
// error naming the types there are. path "" configures none.
func Load(path string, env Env, connectors ...Connector) ([]Issuer, error) {
	if path == "" {
		return nil, nil
	}
	heads, nodes, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var out []Issuer
	for i, h := range heads {
		j := slices.IndexFunc(connectors, func(c Connector) bool { return c.Type == h.Type })
		if j < 0 {
			var types []string
			for _, c := range connectors {
				types = append(types, c.Type)
			}
			return nil, fmt.Errorf("issuers file %s: issuer %s: type %q is not one of %s", path, h.Name, h.Type, strings.Join(types, ", "))
		}
		iss, err := connectors[j].New(h.Name, &nodes[i], env)
		if err != nil {
			return nil, fmt.Errorf("issuers file %s: issuer %s: %w", path, h.Name, err)
		}
		out = append(out, iss)
	}
	return out, nil
}

// Names returns LocalName and the names of the issuers configured in the
// issuers file at path ("" for none), without building them: what a
// profile's issuer may name.
func Names(path string) ([]string, error) {
	names := []string{LocalName}
	if path == "" {
		return names, nil
	}
	heads, _, err := readFile(path)
	if err != nil {
		return nil, err
	}
	for _, h := range heads {
		names = append(names, h.Name)
	}
	return names, nil
}

// DecodeEntry decodes the mapping n into v, a pointer to a struct,
// refusing keys v has no field for (by their yaml tags): what a
// Connector.New uses to decode its entry. Errors are one line naming the
// line of the file (n's lines are the file's): "line 5: unknown key
// "hmac" (the keys are ...)", "line 5: cannot unmarshal !!seq into
// string".
func DecodeEntry(n *yaml.Node, v any) error {
	var keys []string
	t := reflect.TypeOf(v).Elem()
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; !slices.Contains(keys, k.Value) {
				return fmt.Errorf("line %d: unknown key %q (the keys are %s; docs/issuers.md)", k.Line, k.Value, strings.Join(keys, ", "))
			}
		}
	}
	if err := n.Decode(v); err != nil {
		t := strings.Join(strings.Fields(err.Error()), " ")
		return errors.New(strings.TrimPrefix(strings.TrimPrefix(t, "yaml: "), "unmarshal errors: "))
	}
	return nil
}
