package config

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// errLine matches one line of a Parse error: "fuzz.toml:LINE: reason".
var errLine = regexp.MustCompile(`^fuzz\.toml:([0-9]+): \S`)

// FuzzParse feeds Parse arbitrary bytes: it must never panic, every error
// line must name the file and a line of the document, and a success must
// satisfy the rules validation promises.
func FuzzParse(f *testing.F) {
	if shipped, err := os.ReadFile(shipped); err == nil {
		f.Add(shipped) // the full example
	}
	f.Add([]byte(minimal))                                                       // smallest valid file
	f.Add([]byte("[server]\nlistn = 1\n"))                                       // unknown key
	f.Add([]byte("[cache]\nmemory = true\nmax_object = \"9EiB\"\n"))             // wrong type, bad unit
	f.Add([]byte("[cache.disk]\npath = \"d\"\nsize = 1\n"))                      // disk tier too small
	f.Add([]byte("[cache]\nlock_timeout = \"0s\"\nrevalidations = 0\n"))         // zero where positive is required
	f.Add([]byte("sites = [{name = \"a\", hosts = [\"*.x\"], pool = \"p\"}]\n")) // inline array of tables
	f.Add([]byte("[[server.tls]]\n[[server.tls]]\nlisten = 1\n[sites]\n"))       // nested arrays, table for array
	f.Add([]byte("[pools.\"a\\nb\"]\npeers = [\"[::1]:0\"]\n"))                  // quoted name with a newline
	f.Add([]byte("a = [[[[[[[[[[1]]]]]]]]]]\n\"\" = 1\n[x.y.z]\n"))              // nesting, empty key
	f.Add([]byte("[server\n"))                                                   // syntax error
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data)
		if err != nil {
			n := bytes.Count(data, []byte("\n")) + 1
			for l := range strings.SplitSeq(err.Error(), "\n") {
				m := errLine.FindStringSubmatch(l)
				if m == nil {
					t.Fatalf("error line %q does not start \"fuzz.toml:LINE: \"; whole error:\n%v", l, err)
				}
				if line, _ := strconv.Atoi(m[1]); line < 1 || line > n {
					t.Fatalf("error line %q: line outside the document's %d lines", l, n)
				}
			}
			return
		}
		if cc := c.Cache; cc.Memory < minMemory || cc.MaxMemoryObject <= 0 || cc.MaxMemoryObject > cc.Memory || cc.MaxObject < cc.MaxMemoryObject ||
			cc.Disk.Path != "" && cc.Disk.Size < minDiskSize || cc.Disk.RetryInterval <= 0 {
			t.Fatalf("accepted cache sizes %+v", cc)
		}
		if cc := c.Cache; cc.LockTimeout <= 0 || cc.LockAgeTimeout <= 0 || cc.HitForPass < 0 || cc.Revalidations < 1 {
			t.Fatalf("accepted cache locks %+v", cc)
		}
		if w := c.Server.Workers; w < 1 || w > maxWorkers {
			t.Fatalf("accepted or resolved %d workers", w)
		}
		if len(c.Server.Listen)+len(c.Server.TLS) == 0 {
			t.Fatal("accepted a config with no listeners")
		}
		for _, s := range c.Sites {
			if s.DefaultTTL < 0 || s.StaleWhileRevalidate < 0 || s.StaleIfError < 0 {
				t.Fatalf("site %q: accepted a negative duration", s.Name)
			}
			if _, ok := c.Pools[s.Pool]; !ok {
				t.Fatalf("site %q names missing pool %q", s.Name, s.Pool)
			}
			for _, h := range s.Hosts {
				c.Match(h)
			}
		}
	})
}
