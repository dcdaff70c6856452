package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeFile writes data to name, failing the test on error.
func writeFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestParsePeersFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "peers.txt")
	writeFile(t, name, lines(
		`# origin fleet, one peer per line`,
		``,
		`10.0.0.1:80`,
		`  HTTPS://Origin.Example:443   # trailing comment`,
		"\tunix:/run/origin#1.sock\r",
		`[::1]:8080`,
		`#10.0.0.2:80 commented out`,
	))
	got, err := ParsePeersFile(name)
	if err != nil {
		t.Fatal(err)
	}
	want := []Peer{
		{Addr: "10.0.0.1:80", Scheme: "http", Weight: 1},
		{Addr: "origin.example:443", Scheme: "https", Weight: 1},
		{Addr: "/run/origin#1.sock", Scheme: "unix", Weight: 1},
		{Addr: "[::1]:8080", Scheme: "http", Weight: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParsePeersFile = %+v, want %+v", got, want)
	}
}

func TestParsePeersFileEmpty(t *testing.T) {
	name := filepath.Join(t.TempDir(), "peers.txt")
	writeFile(t, name, "# no peers yet\n\n")
	got, err := ParsePeersFile(name)
	if err != nil || got != nil {
		t.Errorf("ParsePeersFile(comments only) = %v, %v; want nil, nil", got, err)
	}
}

// TestParsePeersFileErrors checks that every bad line is reported, on a
// line of its own naming the file and the line.
func TestParsePeersFileErrors(t *testing.T) {
	name := filepath.Join(t.TempDir(), "peers.txt")
	writeFile(t, name, lines(
		`10.0.0.1:80`,
		`10.0.0.2`,
		`ftp://10.0.0.3:21`,
		`10.0.0.4:80 10.0.0.5:80`,
		`http://10.0.0.1:80`,
		`unix:relative.sock`,
	))
	_, err := ParsePeersFile(name)
	if err == nil {
		t.Fatal("ParsePeersFile succeeded, want errors")
	}
	want := []string{
		name + `:2: invalid peer "10.0.0.2": want host:port`,
		name + `:3: invalid peer "ftp://10.0.0.3:21": unknown scheme "ftp": want http://, https:// or unix:`,
		name + `:4: want one peer per line, got "10.0.0.4:80 10.0.0.5:80"`,
		name + `:5: peer http://10.0.0.1:80 is listed twice (first on line 1)`,
		name + `:6: invalid peer "unix:relative.sock": want an absolute socket path, such as "unix:/run/origin.sock"`,
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("ParsePeersFile error =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var e *Error
	if !errors.As(err, &e) || e.File != name || e.Line != 2 {
		t.Errorf("errors.As(*Error) = %+v, want the first, at line 2 of %s", e, name)
	}
}

func TestParsePeersFileLimits(t *testing.T) {
	dir := t.TempDir()
	many := filepath.Join(dir, "many.txt")
	var b strings.Builder
	for i := range maxPeers + 1 {
		fmt.Fprintf(&b, "10.0.%d.%d:80\n", i/256, i%256)
	}
	writeFile(t, many, b.String())
	if _, err := ParsePeersFile(many); err == nil || err.Error() != fmt.Sprintf("%s:%d: more than 4096 peers", many, maxPeers+1) {
		t.Errorf("ParsePeersFile(4097 peers) = %v, want an error at line 4097", err)
	}
	big := filepath.Join(dir, "big.txt")
	writeFile(t, big, strings.Repeat("#", int(maxPeersFile)+1))
	if _, err := ParsePeersFile(big); err == nil || err.Error() != big+" is larger than 1MiB" {
		t.Errorf("ParsePeersFile(1MiB+1) = %v, want %s is larger than 1MiB", err, big)
	}
	if _, err := ParsePeersFile(dir); err == nil || err.Error() != dir+" is not a regular file" {
		t.Errorf("ParsePeersFile(directory) = %v, want not a regular file", err)
	}
	if _, err := ParsePeersFile(filepath.Join(dir, "missing.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ParsePeersFile(missing) = %v, want a not-exist error", err)
	}
}

// TestParsePeersFileInPool checks a pool's peers_file: its peers go to
// FilePeers, and its problems are reported at peers_file's line, with the
// file's own line.
func TestParsePeersFileInPool(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	writeFile(t, filepath.Join(dir, "peers.txt"), "10.0.0.2:80\nhttps://10.0.0.3:443\n")
	writeFile(t, filepath.Join(dir, "none.txt"), "# drained\n")
	writeFile(t, filepath.Join(dir, "bare.txt"), "https://10.0.0.3:443\n10.0.0.4:443\n")
	writeFile(t, filepath.Join(dir, "bad.txt"), "10.0.0.2\n\nnot a peer\n")
	writeFile(t, filepath.Join(dir, "dup.txt"), "# one\nhttp://10.0.0.1:80\n")

	c, err := Parse(cfg, []byte(poolDoc(`peers = ["10.0.0.1:80"]`, `peers_file = "peers.txt"`)))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Pools["p"]
	wantFile := []Peer{{Addr: "10.0.0.2:80", Scheme: "http", Weight: 1}, {Addr: "10.0.0.3:443", Scheme: "https", Weight: 1}}
	if !reflect.DeepEqual(p.FilePeers, wantFile) || len(p.PeerList) != 1 || !reflect.DeepEqual(p.Peers, []string{"10.0.0.1:80"}) {
		t.Errorf("Pool = peers %q, list %+v, file %+v; want one peer in the list and file peers %+v", p.Peers, p.PeerList, p.FilePeers, wantFile)
	}
	c, err = Parse(cfg, []byte(poolDoc(`peers_file = "peers.txt"`)))
	if err != nil {
		t.Fatalf("a pool of file peers only: %v", err)
	}
	if p := c.Pools["p"]; len(p.PeerList) != 0 || len(p.FilePeers) != 2 {
		t.Errorf("file peers only: list %+v, file %+v; want 2 file peers", p.PeerList, p.FilePeers)
	}

	tests := []struct {
		name string
		body []string
		want []string // each line of the error
	}{
		{"missing", []string{`peers = ["10.0.0.1:80"]`, `peers_file = "missing.txt"`}, []string{
			`c.toml:3: pools.p.peers_file: stat ` + filepath.Join(dir, "missing.txt") + `: no such file or directory`,
		}},
		{"a directory", []string{`peers = ["10.0.0.1:80"]`, `peers_file = "."`}, []string{
			`c.toml:3: pools.p.peers_file: ` + dir + ` is not a regular file`,
		}},
		{"no peers at all", []string{`peers_file = "none.txt"`}, []string{
			`c.toml:2: pools.p.peers_file: a pool needs at least one peer, and ` + filepath.Join(dir, "none.txt") + ` lists none`,
		}},
		{"https pool, entry without a scheme", []string{`scheme = "https"`, `peers = ["10.0.0.1:443"]`, `peers_file = "bare.txt"`}, []string{
			`c.toml:4: pools.p.peers_file: ` + filepath.Join(dir, "bare.txt") + `:2: peer "10.0.0.4:443" names no scheme: a peers file is read without its pool, where an entry without a scheme is http; write "https://10.0.0.4:443"`,
		}},
		{"bad lines", []string{`peers = ["10.0.0.1:80"]`, `peers_file = "bad.txt"`}, []string{
			`c.toml:3: pools.p.peers_file: ` + filepath.Join(dir, "bad.txt") + `:1: invalid peer "10.0.0.2": want host:port`,
			`c.toml:3: pools.p.peers_file: ` + filepath.Join(dir, "bad.txt") + `:3: want one peer per line, got "not a peer"`,
		}},
		{"a peer also in peers", []string{`peers = ["10.0.0.1:80"]`, `peers_file = "dup.txt"`}, []string{
			`c.toml:3: pools.p.peers_file: ` + filepath.Join(dir, "dup.txt") + `:2: peer http://10.0.0.1:80 is listed twice (first at pools.p.peers[0], line 2)`,
		}},
		{"only backups and an empty file", []string{`peers_file = "none.txt"`, `[[pools.p.peer]]`, `addr = "10.0.0.1:80"`, `backup = true`}, []string{
			`c.toml:5: pools.p.peer[0].backup: every peer of the pool is a backup: at least one must be a primary`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(cfg, []byte(poolDoc(tt.body...)))
			if err == nil {
				t.Fatalf("Parse succeeded, want\n%s", strings.Join(tt.want, "\n"))
			}
			got := strings.Split(strings.ReplaceAll(err.Error(), cfg, "c.toml"), "\n")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse error =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
