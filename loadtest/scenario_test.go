package loadtest

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestParseScenario: values come out as a command line spells them, in
// file order with their lines; what is not a flag value is refused with
// its line.
func TestParseScenario(t *testing.T) {
	tests := []struct {
		name, text string
		want       []Setting
		desc       string
		err        string
	}{
		{name: "every kind of value", text: "# a comment\ndescription = \"d\"\nconnections = 1_000\nzipf-s = 0.5\nrate = 2e4\nh2 = true\nquery = 'cc=max-age%3D60'\n\"size\" = \"1KiB\"\n",
			desc: "d", want: []Setting{
				{"connections", "1000", 3}, {"zipf-s", "0.5", 4}, {"rate", "20000", 5}, {"h2", "true", 6}, {"query", "cc=max-age%3D60", 7}, {"size", "1KiB", 8},
			}},
		{name: "empty", text: "", want: nil},
		{name: "table", text: "rate = 5\n\n[flags]\nc = 4\n", err: "s.toml:3: tables are not part of a scenario"},
		{name: "array of tables", text: "[[run]]\n", err: "s.toml:1: tables are not part of a scenario"},
		{name: "dotted key", text: "\nload.rate = 5\n", err: "s.toml:2: load.rate: dotted keys are not part of a scenario"},
		{name: "array", text: "query = [\"a\"]\n", err: "s.toml:1: query: want a string, number or boolean, not an array"},
		{name: "inline table", text: "rate = 1\nquery = {a = 1}\n", err: "s.toml:2: query: want a string, number or boolean, not a table"},
		{name: "date", text: "seed = 2026-01-01\n", err: "s.toml:1: seed: want a string, number or boolean, not a date or time"},
		{name: "description not a string", text: "description = 5\n", err: "s.toml:1: description: want a string"},
		{name: "syntax", text: "rate = 5\nkeys = \n", err: "s.toml:2: "},
		{name: "duplicate", text: "rate = 5\nrate = 6\n", err: "s.toml:2: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := ParseScenario("s.toml", []byte(tt.text))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseScenario(%q) = %v, want an error saying %q", tt.text, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseScenario(%q): %v", tt.text, err)
			}
			if !slices.Equal(sc.Settings, tt.want) || sc.Description != tt.desc || sc.Name != "s.toml" {
				t.Errorf("ParseScenario(%q) = %+v, want %+v, description %q", tt.text, sc, tt.want, tt.desc)
			}
		})
	}
}

// TestScenarioApply: Apply hands each setting over in order and names the
// line of the first it refuses.
func TestScenarioApply(t *testing.T) {
	sc, err := ParseScenario("s.toml", []byte("a = 1\nb = 2\nc = 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = sc.Apply(func(k, v string) error {
		if k == "b" {
			return errors.New("no b")
		}
		got = append(got, k+"="+v)
		return nil
	})
	if !slices.Equal(got, []string{"a=1"}) || err == nil || err.Error() != "s.toml:2: b: no b" {
		t.Errorf("Apply set %q and returned %v; want a=1, then s.toml:2: b: no b", got, err)
	}
}

// TestLoadScenario finds a file first, then a shipped scenario by name.
func TestLoadScenario(t *testing.T) {
	names := ScenarioNames()
	if want := []string{"hot-hit", "origin-down", "purge-storm", "thundering-herd", "zipf-10k"}; !slices.Equal(names, want) {
		t.Errorf("ScenarioNames() = %q, want %q", names, want)
	}
	for _, name := range names {
		for _, arg := range []string{name, name + ".toml"} {
			sc, err := LoadScenario(arg)
			if err != nil || sc.Name != name || sc.Description == "" || len(sc.Settings) == 0 {
				t.Errorf("LoadScenario(%q) = %+v, %v; want the shipped scenario, described", arg, sc, err)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "hot-hit.toml")
	if err := os.WriteFile(path, []byte("rate = 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if sc, err := LoadScenario(path); err != nil || sc.Name != path || len(sc.Settings) != 1 {
		t.Errorf("LoadScenario(%q) = %+v, %v; want the file", path, sc, err)
	}
	if _, err := LoadScenario("cold-miss"); err == nil || !strings.Contains(err.Error(), "hot-hit, origin-down") {
		t.Errorf("LoadScenario of an unknown name: %v; want the shipped names listed", err)
	}
	if _, err := LoadScenario(filepath.Join(t.TempDir(), "missing.toml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadScenario of a missing path: %v", err)
	}
}

func FuzzParseScenario(f *testing.F) {
	f.Add("connections = 64\nkeys = \"zipf\"\n")       // plain settings
	f.Add("description = \"x\"\n[t]\na = 1\n")         // a table, refused
	f.Add("a.b = 1\n")                                 // a dotted key, refused
	f.Add("a = [1, {b = 2}]\n")                        // nested values, refused
	f.Add("'quoted key' = 1e400\n")                    // out of range float
	f.Add("a = \"\"\"\nmulti\nline\"\"\"\nb = true\n") // a multi-line string
	f.Fuzz(func(t *testing.T, text string) {
		sc, err := ParseScenario("f.toml", []byte(text))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.toml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		lines := strings.Count(text, "\n") + 1
		for _, s := range sc.Settings {
			if s.Line < 1 || s.Line > lines || s.Key == "description" {
				t.Fatalf("setting %+v: line out of %d, or the description", s, lines)
			}
		}
	})
}
