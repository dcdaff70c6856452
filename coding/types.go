package coding

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// maxName is the longest type or subtype name RFC 6838 §4.2 allows. No
// pattern holds a longer one, so a media type with one matches nothing.
const maxName = 127

// Types is a list of media-type patterns that say which responses are worth
// compressing. Build one with ParseTypes; the zero Types matches nothing. A
// Types is not modified after ParseTypes returns, so it is safe for
// concurrent use.
type Types struct {
	exact  map[string]bool // "type/subtype", from "type/subtype"
	anySub map[string]bool // "type", from "type/*"
	suffix map[string]bool // "type/+suffix", from "type/*+suffix"
}

// ParseTypes checks and compiles patterns, each one of:
//
//   - "type/subtype": that media type exactly ("application/json");
//   - "type/*": any subtype of type ("text/*");
//   - "type/*+suffix": any subtype of type with that structured syntax
//     suffix (RFC 6838 §4.2.8), so "application/*+json" matches
//     "application/ld+json" but not "application/json" itself.
//
// Names are matched case-insensitively and follow RFC 6838 §4.2: a letter
// or digit, then up to 126 letters, digits and !#$&-^_.+ characters.
// Patterns carry no parameters and no spaces. Anything else is an error
// naming the first bad pattern. An empty list matches nothing; duplicates
// are harmless. patterns is not retained.
func ParseTypes(patterns []string) (*Types, error) {
	t := &Types{exact: map[string]bool{}, anySub: map[string]bool{}, suffix: map[string]bool{}}
	for _, p := range patterns {
		if err := t.add(p); err != nil {
			return nil, fmt.Errorf("media type pattern %q: %w", p, err)
		}
	}
	return t, nil
}

// add compiles one pattern into t.
func (t *Types) add(p string) error {
	if strings.Contains(p, ";") {
		return errors.New("parameters are not allowed")
	}
	typ, sub, ok := strings.Cut(strings.ToLower(p), "/")
	if !ok {
		return errors.New("want type/subtype, type/* or type/*+suffix")
	}
	if !restrictedName(typ) {
		return fmt.Errorf("invalid type %q: want a letter or digit, then letters, digits and !#$&-^_.+ (RFC 6838 §4.2)", typ)
	}
	switch rest, wild := strings.CutPrefix(sub, "*"); {
	case wild && rest == "":
		t.anySub[typ] = true
	case wild:
		suffix, ok := strings.CutPrefix(rest, "+")
		if !ok || !restrictedName(suffix) {
			return fmt.Errorf("invalid subtype %q: want a name, \"*\" or \"*+suffix\"", sub)
		}
		t.suffix[typ+"/+"+suffix] = true
	case !restrictedName(sub):
		return fmt.Errorf("invalid subtype %q: want a name, \"*\" or \"*+suffix\"", sub)
	default:
		t.exact[typ+"/"+sub] = true
	}
	return nil
}

// restrictedName reports whether s is a restricted-name (RFC 6838 §4.2).
func restrictedName(s string) bool {
	if s == "" || len(s) > maxName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("!#$&-^_.+", rune(c))) {
			return false
		}
	}
	return true
}

// Match reports whether contentType, a Content-Type field value as an
// origin sent it, names a media type that matches one of t's patterns. The
// media type (RFC 9110 §8.3.1: type "/" subtype, each a token, then OWS and
// ";" parameters or the end) is compared case-insensitively; parameters are
// ignored without being checked. "" and malformed values, including a list
// of several media types, never match. Match does not allocate.
func (t *Types) Match(contentType string) bool {
	s := trimOWS(contentType)
	slash := tokenEnd(s)
	if slash == 0 || slash == len(s) || s[slash] != '/' {
		return false
	}
	end := slash + 1 + tokenEnd(s[slash+1:])
	if end == slash+1 {
		return false
	}
	if rest := trimOWS(s[end:]); rest != "" && rest[0] != ';' {
		return false
	}
	if slash > maxName || end-slash-1 > maxName {
		return false
	}
	// Lower-cased into a stack buffer: map lookups keyed by string(buf[:n])
	// do not allocate.
	var buf [2*maxName + 1]byte
	n := copy(buf[:], s[:end])
	for i := range n {
		if c := buf[i]; 'A' <= c && c <= 'Z' {
			buf[i] = c + ('a' - 'A')
		}
	}
	if t.exact[string(buf[:n])] || t.anySub[string(buf[:slash])] {
		return true
	}
	// "type/base+suffix" becomes "type/+suffix" in place: the last "+"
	// starts the suffix (RFC 6838 §4.2.8), and the base may not be empty.
	plus := strings.LastIndexByte(s[slash+1:end], '+')
	if plus <= 0 {
		return false
	}
	m := slash + 1 + copy(buf[slash+1:], buf[slash+1+plus:n])
	return t.suffix[string(buf[:m])]
}

// tokenEnd returns the length of the token (RFC 9110 §5.6.2) s starts
// with.
func tokenEnd(s string) int {
	i := 0
	for i < len(s) && httpguts.IsTokenRune(rune(s[i])) {
		i++
	}
	return i
}

// DefaultTypes returns the default patterns, a new slice the caller owns:
// text, and the textual or uncompressed binary formats that CDNs
// (Cloudflare's list, nginx's usual gzip_types) compress by default.
// Formats that are already compressed (PNG, JPEG, WebP, WOFF/WOFF2, video,
// archives) are left out, as compressing them again saves nothing.
func DefaultTypes() []string {
	return []string{
		"text/*",             // html, css, plain, csv, javascript, xml, markdown, ...
		"application/json",   // the suffix pattern below does not cover it
		"application/*+json", // ld+json, manifest+json, geo+json, problem+json, vnd.api+json, ...
		"application/x-ndjson",
		"application/javascript",
		"application/x-javascript",
		"application/ecmascript",
		"application/xml",
		"application/*+xml", // rss+xml, atom+xml, xhtml+xml, ...
		"application/yaml",
		"application/x-yaml",
		"application/wasm",
		"application/vnd.ms-fontobject",
		"font/ttf",
		"font/otf",
		"image/svg+xml",
		"image/x-icon",
		"image/vnd.microsoft.icon",
		"image/bmp",
	}
}
