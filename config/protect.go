package config

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Site protection defaults and limits, as documented on the Site,
// RateLimit and Auth fields and in config.toml.
const (
	maxRateLimit    = 1_000_000_000
	minRateWindow   = Duration(time.Second)
	maxRateWindow   = Duration(24 * time.Hour)
	defaultMaxKeys  = 65536
	minMaxKeys      = 16
	maxMaxKeys      = 10_000_000
	defaultRealm    = "cdnnode"
	maxErrorPage    = Size(1 << 20)
	defaultErrors   = "text"
	defaultRateKey  = "ip"
	defaultRateAlgo = "sliding"
)

// errorBodies returns the site's error body format and its error page,
// resolved and checked.
func (b *builder) errorBodies(at path, r *rawSite) (format, page string) {
	format = stringOr(r.Errors, defaultErrors)
	switch format {
	case "text", "json", "html":
	default:
		b.errorf(at.with("errors"), "invalid errors %q: want \"text\", \"json\" or \"html\"", format)
	}
	if r.ErrorPage == nil {
		return format, ""
	}
	if format == "text" || format == "json" {
		b.errorf(at.with("error_page"), "applies only to errors = \"html\", and errors is %q", format)
	}
	page, ok := b.file(at.with("error_page"), *r.ErrorPage)
	if ok {
		if err := checkErrorPage(page); err != nil {
			b.fail(at.with("error_page"), err)
		}
	}
	return format, page
}

// checkErrorPage checks that the file name holds an html/template that
// executes with an ErrorPageData, as the node will execute it.
func checkErrorPage(name string) error {
	data, err := readSmallFile(name, maxErrorPage)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%s is empty", name)
	}
	t, err := template.New(filepath.Base(name)).Parse(string(data))
	if err != nil {
		return err
	}
	// html/template escapes on the first execution, so this also finds
	// templates it cannot escape.
	return t.Execute(io.Discard, ErrorPageData{Status: 404, Title: "Not Found", Message: "no such object"})
}

// rateLimit builds the [[sites.rate_limit]] table at at.
func (b *builder) rateLimit(at path, r *rawRateLimit) RateLimit {
	l := RateLimit{
		Prefix:    stringOr(r.Prefix, "/"),
		Key:       stringOr(r.Key, defaultRateKey),
		Algorithm: stringOr(r.Algorithm, defaultRateAlgo),
		MaxKeys:   b.intIn(at.with("max_keys"), r.MaxKeys, defaultMaxKeys, minMaxKeys, maxMaxKeys),
	}
	if err := checkPathPrefix(l.Prefix); err != nil {
		b.fail(at.with("prefix"), err)
	}
	if err := checkRateKey(l.Key); err != nil {
		b.fail(at.with("key"), err)
	}
	if l.Algorithm != "sliding" && l.Algorithm != "fixed" {
		b.errorf(at.with("algorithm"), "invalid algorithm %q: want \"sliding\" or \"fixed\"", l.Algorithm)
	}
	if r.Limit == nil {
		b.errorf(at, "missing required key limit")
	} else {
		l.Limit = b.intIn(at.with("limit"), r.Limit, 0, 1, maxRateLimit)
	}
	if r.Window == nil {
		b.errorf(at, "missing required key window")
	} else {
		l.Window = b.durationIn(at.with("window"), r.Window, 0, minRateWindow, maxRateWindow)
	}
	return l
}

// checkRateKey checks a rate limit's key: "ip" or "header:NAME".
func checkRateKey(k string) error {
	if k == "ip" {
		return nil
	}
	name, ok := strings.CutPrefix(k, "header:")
	if !ok {
		return fmt.Errorf("invalid key %q: want \"ip\" or \"header:NAME\"", k)
	}
	if !httpguts.ValidHeaderFieldName(name) {
		return fmt.Errorf("invalid key %q: %q is not a field name (RFC 9110 §5.1: a token)", k, name)
	}
	return nil
}

// checkPathPrefix checks a path prefix: a path, with no query or fragment.
func checkPathPrefix(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("invalid prefix %q: want a path starting with \"/\"", p)
	case strings.ContainsAny(p, "?#"):
		return fmt.Errorf("invalid prefix %q: a path prefix has no query or fragment", p)
	case strings.Contains(p, " ") || hasCTL(p):
		return fmt.Errorf("invalid prefix %q: no spaces or control characters", p)
	}
	return nil
}

// auth builds the [[sites.auth]] table at at. Its credentials come from
// the file or from the environment; no message quotes one.
func (b *builder) auth(at path, r *rawAuth) Auth {
	a := Auth{Prefix: stringOr(r.Prefix, ""), Type: stringOr(r.Type, "")}
	if r.Prefix == nil {
		b.errorf(at, "missing required key prefix")
	} else if err := checkPathPrefix(a.Prefix); err != nil {
		b.fail(at.with("prefix"), err)
	}
	// Keys of the other type: a typo of the type, or a misplaced secret.
	other := map[string][]struct {
		key string
		set bool
	}{
		"bearer": {{"users", r.Users != nil}, {"users_env", r.UsersEnv != nil}, {"realm", r.Realm != nil}},
		"basic":  {{"token", r.Token != nil}, {"token_env", r.TokenEnv != nil}},
	}
	for _, k := range other[a.Type] {
		if k.set {
			b.errorf(at.with(k.key), "does not apply to type = %q", a.Type)
		}
	}
	switch {
	case r.Type == nil:
		b.errorf(at, "missing required key type")
	case a.Type == "bearer":
		a.Token = b.bearer(at, r)
	case a.Type == "basic":
		a.Users = b.basicUsers(at, r)
		a.Realm = stringOr(r.Realm, defaultRealm)
		if !validRealm(a.Realm) {
			b.errorf(at.with("realm"), "invalid realm %q: it is sent quoted, so no '\"', '\\' or control characters", a.Realm)
		}
	default:
		b.errorf(at.with("type"), "invalid type %q: want \"bearer\" or \"basic\"", a.Type)
	}
	return a
}

// bearer returns the token of the bearer auth at at: token, or the
// variable token_env names, which must be set.
func (b *builder) bearer(at path, r *rawAuth) Secret {
	switch {
	case r.Token != nil && r.TokenEnv != nil:
		b.errorf(b.later(at, "token", "token_env"), "set token or token_env, not both")
	case r.Token != nil:
		return b.token(at.with("token"), *r.Token)
	case r.TokenEnv != nil:
		at = at.with("token_env")
		if !b.envName(at, *r.TokenEnv) {
			break
		}
		tok := b.envToken(at, *r.TokenEnv)
		if tok == "" {
			b.errorf(at, "$%s is not set or is empty", *r.TokenEnv)
		}
		return tok
	default:
		b.errorf(at, "a bearer auth needs token or token_env")
	}
	return ""
}

// basicUsers returns the users of the basic auth at at: users, or those
// of the variable users_env names, which must be set.
func (b *builder) basicUsers(at path, r *rawAuth) []User {
	var users []User
	seen := map[string]bool{}
	add := func(at path, where string, s string) {
		u, err := parseUser(s)
		if err == nil && seen[u.Name] {
			err = fmt.Errorf("user %q is listed twice", u.Name)
		}
		if err != nil {
			b.errorf(at, "%s%v", where, err)
			return
		}
		seen[u.Name] = true
		users = append(users, u)
	}
	switch {
	case r.Users != nil && r.UsersEnv != nil:
		b.errorf(b.later(at, "users", "users_env"), "set users or users_env, not both")
	case r.Users != nil:
		if len(*r.Users) == 0 {
			b.errorf(at.with("users"), "a basic auth needs at least one user")
		}
		for i, s := range *r.Users {
			add(at.with("users").index(i), "", s)
		}
	case r.UsersEnv != nil:
		at = at.with("users_env")
		name := *r.UsersEnv
		if !b.envName(at, name) {
			break
		}
		v := envValue(name)
		if v == "" {
			b.errorf(at, "$%s is not set or is empty", name)
			break
		}
		for i, s := range strings.Split(v, ",") {
			add(at, fmt.Sprintf("$%s entry %d: ", name, i+1), strings.TrimSpace(s))
		}
	default:
		b.errorf(at, "a basic auth needs users or users_env")
	}
	return users
}

// parseUser parses a basic user, "name:password". Its errors never quote
// the password.
func parseUser(s string) (User, error) {
	name, pw, ok := strings.Cut(s, ":")
	switch {
	case !ok:
		return User{}, errors.New("want \"name:password\"")
	case name == "":
		return User{}, errors.New("empty user name: want \"name:password\"")
	case hasCTL(name):
		return User{}, fmt.Errorf("user name %q has control characters (RFC 7617 §2)", name)
	case pw == "":
		return User{}, fmt.Errorf("user %q has an empty password", name)
	case hasCTL(pw):
		return User{}, fmt.Errorf("the password of user %q has control characters (RFC 7617 §2)", name)
	}
	return User{Name: name, Password: Secret(pw)}, nil
}

// validRealm reports whether s can be sent as a quoted-string (RFC 9110
// §5.6.4) as it is: no '"', '\' or control characters.
func validRealm(s string) bool {
	return !hasCTL(s) && !strings.ContainsAny(s, `"\`)
}

// hasCTL reports whether s holds an ASCII control character (RFC 5234
// CTL: 0x00-0x1f and 0x7f).
func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
