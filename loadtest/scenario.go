package loadtest

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// shipped holds the scenarios that come with the binary.
//
//go:embed scenarios/*.toml
var shipped embed.FS

// Scenario is a load test written down: a TOML file of `cdnnode loadtest`
// flag values, one top-level key per flag, named as the flag is without
// its dashes, with the value the flag would take:
//
//	description = "many clients, one object, a slow origin"
//	connections = 512
//	keys = "single"
//	duration = "30s"
//	query = "delay=50ms&cc=max-age%3D1"
//
// Strings, integers, floats and booleans are written as TOML has them
// (durations and sizes as strings); tables and arrays are not allowed.
// description is not a flag: it says what the scenario shows.
type Scenario struct {
	Name        string // the file name, or the shipped scenario's name
	Description string
	Settings    []Setting // in file order
}

// Setting is one key of a scenario.
type Setting struct {
	Key   string
	Value string // as on a command line: 512, 0.8, true, 30s
	Line  int    // 1-based
}

// ScenarioNames lists the shipped scenarios, by name.
func ScenarioNames() []string {
	entries, _ := shipped.ReadDir("scenarios") // embedded: cannot fail
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".toml"))
	}
	return names
}

// LoadScenario reads the scenario file at name or, when there is no such
// file, the shipped scenario called name (with or without ".toml").
func LoadScenario(name string) (*Scenario, error) {
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) && !strings.ContainsRune(name, os.PathSeparator) {
		data, err = shipped.ReadFile(path.Join("scenarios", strings.TrimSuffix(name, ".toml")+".toml"))
		if err != nil {
			return nil, fmt.Errorf("scenario %q: no such file, nor a shipped scenario (%s)", name, strings.Join(ScenarioNames(), ", "))
		}
		name = strings.TrimSuffix(name, ".toml")
	}
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return ParseScenario(name, data)
}

// ParseScenario reads a scenario from data, which came from name. Errors
// are "name:line: reason".
func ParseScenario(name string, data []byte) (*Scenario, error) {
	var values map[string]any
	if err := toml.Unmarshal(data, &values); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, _ := de.Position()
			return nil, fmt.Errorf("%s:%d: %s", name, line, strings.TrimPrefix(de.Error(), "toml: "))
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	sc := &Scenario{Name: name}
	// The decoder has checked the syntax; the parser gives the order of
	// the keys and their lines.
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		if e.Kind != unstable.Table && e.Kind != unstable.ArrayTable && e.Kind != unstable.KeyValue {
			continue
		}
		var parts []string
		line := 0
		for it := e.Key(); it.Next(); {
			k := it.Node()
			if line == 0 {
				line = p.Shape(k.Raw).Start.Line
			}
			parts = append(parts, string(k.Data))
		}
		switch {
		case e.Kind != unstable.KeyValue:
			return nil, fmt.Errorf("%s:%d: tables are not part of a scenario: its keys are flag names at the top level", name, line)
		case len(parts) != 1:
			return nil, fmt.Errorf("%s:%d: %s: dotted keys are not part of a scenario: its keys are flag names", name, line, strings.Join(parts, "."))
		}
		key := parts[0]
		value, err := settingValue(values[key])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", name, line, key, err)
		}
		if key == "description" {
			if _, ok := values[key].(string); !ok {
				return nil, fmt.Errorf("%s:%d: description: want a string", name, line)
			}
			sc.Description = value
			continue
		}
		sc.Settings = append(sc.Settings, Setting{Key: key, Value: value, Line: line})
	}
	return sc, nil
}

// settingValue spells a decoded TOML value as a flag takes it.
func settingValue(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	case []any:
		return "", errors.New("want a string, number or boolean, not an array")
	case map[string]any:
		return "", errors.New("want a string, number or boolean, not a table")
	}
	return "", errors.New("want a string, number or boolean, not a date or time")
}

// Apply calls set for each setting, in file order, and stops at the
// first error, which it returns as "name:line: key: error".
func (s *Scenario) Apply(set func(key, value string) error) error {
	for _, st := range s.Settings {
		if err := set(st.Key, st.Value); err != nil {
			return fmt.Errorf("%s:%d: %s: %w", s.Name, st.Line, st.Key, err)
		}
	}
	return nil
}
