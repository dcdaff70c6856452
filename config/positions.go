package config

import (
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// path names a place in the document: table and key names, with array
// elements as "[i]" parts, e.g. sites [0] pool.
type path []string

// with returns p extended by parts, without sharing p's backing array.
func (p path) with(parts ...string) path {
	q := make(path, 0, len(p)+len(parts))
	return append(append(q, p...), parts...)
}

// index returns p extended by the array element i.
func (p path) index(i int) path { return p.with("[" + strconv.Itoa(i) + "]") }

// String renders p for messages: "pools.demo.connect_timeout", "sites[0].pool".
func (p path) String() string {
	var b strings.Builder
	for i, part := range p {
		switch {
		case strings.HasPrefix(part, "[") && i > 0:
			b.WriteString(part)
			continue
		case i > 0:
			b.WriteByte('.')
		}
		if bareKey(part) {
			b.WriteString(part)
		} else {
			b.WriteString(strconv.Quote(part))
		}
	}
	return b.String()
}

// bareKey reports whether s can be written as a TOML key without quotes.
func bareKey(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

// header renders p as a table header names it, without the array
// elements, which a header path goes through implicitly (its last
// element): "sites.rate_limit" for sites[0].rate_limit.
func (p path) header() string {
	q := make(path, 0, len(p))
	for i, part := range p {
		if i == 0 || !strings.HasPrefix(part, "[") {
			q = append(q, part)
		}
	}
	return q.String()
}

// key is p as a map key; NUL cannot collide with the "." a quoted TOML key
// may contain.
func (p path) key() string { return strings.Join(p, "\x00") }

// positions records where each key and table of a document is defined, so
// errors found after decoding (bad values, failed validation) can name a
// line. It is built from go-toml's AST because the decoder reports positions
// only for the errors it finds itself.
type positions struct {
	lineStarts []int                    // offset of the first byte of each line
	lines      map[string]int           // path key → 1-based line where it is first defined
	kinds      map[string]unstable.Kind // path key → kind of the value there (key-values, array elements)
	arrays     map[string]bool          // path key, as headers write it (no elements) → an [[array]] header has it
}

// scanPositions walks data's expressions. It stops quietly at a syntax
// error: callers decode first, so data is known to parse.
func scanPositions(data []byte) *positions {
	ps := &positions{
		lineStarts: []int{0},
		lines:      make(map[string]int),
		kinds:      make(map[string]unstable.Kind),
		arrays:     make(map[string]bool),
	}
	for i, c := range data {
		if c == '\n' {
			ps.lineStarts = append(ps.lineStarts, i+1)
		}
	}
	var p unstable.Parser
	p.Reset(data)
	arrays := make(map[string]int) // array-table path key → elements so far
	var table path                 // the table the following key-values go into
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			parts, line := ps.keyOf(&p, e)
			if len(parts) == 0 {
				continue
			}
			if e.Kind == unstable.ArrayTable {
				ps.arrays[path(parts).key()] = true
			}
			// A header path through an array of tables means its last element
			// (TOML 1.0, "Array of Tables").
			table = nil
			for i, part := range parts {
				table = table.with(part)
				ps.set(table, line)
				if i == len(parts)-1 && e.Kind == unstable.ArrayTable {
					n := arrays[table.key()]
					arrays[table.key()] = n + 1
					table = table.index(n)
					ps.set(table, line)
				} else if n := arrays[table.key()]; n > 0 {
					table = table.index(n - 1)
				}
			}
		case unstable.KeyValue:
			ps.keyValue(&p, table, e)
		}
	}
	return ps
}

// keyValue records the key-value e inside table, and any inline tables or
// arrays in its value.
func (ps *positions) keyValue(p *unstable.Parser, table path, e *unstable.Node) {
	parts, line := ps.keyOf(p, e)
	full := table
	for _, part := range parts {
		full = full.with(part)
		ps.set(full, line)
	}
	ps.value(p, full, e.Value(), line)
}

// value records v, found at full, and whatever it contains.
func (ps *positions) value(p *unstable.Parser, full path, v *unstable.Node, line int) {
	if !v.Valid() {
		return
	}
	ps.kinds[full.key()] = v.Kind
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			if kv := it.Node(); kv.Kind == unstable.KeyValue {
				ps.keyValue(p, full, kv)
			}
		}
	case unstable.Array:
		it := v.Children()
		for i := 0; it.Next(); i++ {
			el := it.Node()
			at := full.index(i)
			l := line
			if el.Raw.Length > 0 {
				l = ps.lineAt(int(el.Raw.Offset))
			}
			ps.set(at, l)
			ps.value(p, at, el, l)
		}
	}
}

// keyOf returns the parts of e's (possibly dotted) key and the line it is on.
func (ps *positions) keyOf(p *unstable.Parser, e *unstable.Node) ([]string, int) {
	var parts []string
	line := 0
	it := e.Key()
	for it.Next() {
		k := it.Node()
		if line == 0 && k.Raw.Length > 0 {
			line = ps.lineAt(int(k.Raw.Offset))
		}
		parts = append(parts, string(k.Data))
	}
	if line == 0 {
		line = 1
	}
	return parts, line
}

// set records line for p unless p was defined earlier.
func (ps *positions) set(p path, line int) {
	if _, ok := ps.lines[p.key()]; !ok {
		ps.lines[p.key()] = line
	}
}

// lineAt returns the 1-based line holding the byte at offset.
func (ps *positions) lineAt(offset int) int {
	return sort.Search(len(ps.lineStarts), func(i int) bool { return ps.lineStarts[i] > offset })
}

// line returns the line defining p, or failing that its nearest defined
// ancestor (the table of a missing key), or 1.
func (ps *positions) line(p path) int {
	for ; len(p) > 0; p = p[:len(p)-1] {
		if l, ok := ps.lines[p.key()]; ok {
			return l
		}
	}
	return 1
}

// kind returns the kind of the value at p, or Invalid if p holds no value.
func (ps *positions) kind(p path) unstable.Kind {
	return ps.kinds[p.key()]
}

// arrayTable reports whether the document has an [[h]] header, h written
// as headers write it, without array elements.
func (ps *positions) arrayTable(h path) bool {
	return ps.arrays[h.key()]
}

// defined reports whether the document defines p.
func (ps *positions) defined(p path) bool {
	_, ok := ps.lines[p.key()]
	return ok
}
