package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cdnnode/cdnnode/purge"
)

// purgeUsage is the synopsis `cdnnode purge -h` and usage errors print.
const purgeUsage = `usage: cdnnode purge [flags] URL...        purge URLs, every variant of each
       cdnnode purge [flags] --prefix URL   purge a host's URLs under a path prefix
       cdnnode purge [flags] --tag TAG...   purge objects carrying surrogate keys
       cdnnode purge [flags] --all HOST     purge everything of a host
Flags may come before or after the arguments.`

// tokenEnv supplies --token's default.
const tokenEnv = "CDNNODE_PURGE_TOKEN"

// errPartial reports a purge that did not reach every node; the summary
// on stdout says which.
var errPartial = errors.New("purge incomplete")

// runPurge sends one purge to a node's admin API (POST <node>/purge) and
// prints what the node and the peers it forwarded to purged: a summary, or
// the node's JSON answer with --json. It fails on a usage error, when the
// node cannot be reached or answers other than 2xx or a 404 purge result
// (nothing was cached: as the fan-out, it counts that as done), when it
// answers 207 Multi-Status, or when any peer failed.
func runPurge(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), purgeUsage)
		fs.PrintDefaults()
	}
	node := fs.String("node", "http://127.0.0.1:9090", "admin base `URL` of the node to send the purge to")
	// Not os.Getenv as the default: -h prints defaults.
	token := fs.String("token", "", "bearer `TOKEN` (default $"+tokenEnv+")")
	soft := fs.Bool("soft", false, "mark objects stale instead of removing them")
	asJSON := fs.Bool("json", false, "print the node's JSON answer instead of a summary")
	prefix := fs.String("prefix", "", "purge every URL under this `URL`'s host and path prefix")
	all := fs.String("all", "", "purge everything of this `HOST`")
	var tags []string
	fs.Func("tag", "purge objects carrying surrogate key `TAG`; repeatable, further arguments are tags too", func(s string) error {
		tags = append(tags, s)
		return nil
	})
	timeout := fs.Duration("timeout", time.Minute, "give up on the node after this long")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if !flagSet(fs, "token") {
		*token = os.Getenv(tokenEnv)
	}
	req, err := purgeRequest(rest, *prefix, tags, *all, *soft)
	if err != nil {
		return usageError(err)
	}
	if err := checkNodeURL(*node); err != nil {
		return usageError(err)
	}

	c := purge.Client{HTTP: &http.Client{Timeout: *timeout}, Token: *token}
	a, err := c.Send(context.Background(), *node, req)
	if err != nil {
		return fmt.Errorf("purge: %s: %w", *node, err)
	}
	if *asJSON && a.JSON {
		out := a.Body
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		if _, err := stdout.Write(out); err != nil {
			return err
		}
	}
	if (a.Status < 200 || a.Status > 299) && !a.Applied() {
		msg := fmt.Sprintf("purge: %s answered %d %s", *node, a.Status, http.StatusText(a.Status))
		if r := a.Reason(); r != "" {
			msg += ": " + r
		}
		if a.Status == http.StatusUnauthorized && *token == "" {
			msg += " (give --token or set $" + tokenEnv + ")"
		}
		return errors.New(msg)
	}
	if !a.JSON {
		return fmt.Errorf("purge: %s answered %d with no purge result: %q", *node, a.Status, a.Reason())
	}
	if !*asJSON {
		printSummary(stdout, *node, a.Result)
	}
	if a.OK() {
		return nil
	}
	if failed := purge.Failed(a.Result.Peers); failed > 0 {
		return fmt.Errorf("%w: %d of %d peers failed", errPartial, failed, len(a.Result.Peers))
	}
	return fmt.Errorf("%w: %s answered %d %s", errPartial, *node, a.Status, http.StatusText(a.Status))
}

// parseInterspersed parses fs's flags wherever they are among args and
// returns the other arguments in order; all arguments after "--" are
// positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	return parseInterspersedWith(fs, args, nil, nil)
}

// parseInterspersedWith is parseInterspersed for a flag with an optional
// value, which the flag package parses as a boolean flag: when
// valueAfter(the argument before a positional argument) holds and another
// positional argument exists, before or after, that positional argument
// is passed to setValue instead of returned.
func parseInterspersedWith(fs *flag.FlagSet, args []string, valueAfter func(prev string) bool, setValue func(string)) ([]string, error) {
	var pos []string
	for range len(args) + 1 { // every round consumes at least one argument
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		i := len(args) - len(rest) - 1
		if i >= 0 && args[i] == "--" {
			return append(pos, rest...), nil
		}
		if valueAfter != nil && i >= 0 && valueAfter(args[i]) && (len(pos) > 0 || len(rest) > 1) {
			setValue(rest[0])
		} else {
			pos = append(pos, rest[0])
		}
		args = rest[1:]
	}
	return pos, nil
}

// flagSet reports whether the flag called name was given.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// purgeRequest builds the one Request the arguments describe and checks it
// as the node will.
func purgeRequest(args []string, prefix string, tags []string, all string, soft bool) (purge.Request, error) {
	req := purge.Request{Prefix: prefix, All: all, Soft: soft}
	switch {
	case len(tags) > 0:
		req.Tags = append(tags, args...)
	case len(args) > 0 && (prefix != "" || all != ""):
		return req, fmt.Errorf("unexpected arguments %q: --prefix and --all take one value, and no URLs besides", args)
	default:
		req.URLs = args
	}
	given := 0
	for _, set := range []bool{len(req.URLs) > 0, prefix != "", len(req.Tags) > 0, all != ""} {
		if set {
			given++
		}
	}
	switch given {
	case 0:
		return req, errors.New("nothing to purge: give URLs, --prefix URL, --tag TAG or --all HOST")
	case 1:
	default:
		return req, errors.New("give only one of URLs, --prefix, --tag and --all")
	}
	if _, err := req.Kind(); err != nil {
		return req, err
	}
	return req, nil
}

// checkNodeURL checks --node: an http(s) base URL with a host.
func checkNodeURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("invalid --node %q: want the admin base URL, such as http://127.0.0.1:9090", s)
	}
	return nil
}

// usageError adds the synopsis to err.
func usageError(err error) error {
	return usageErrorOf("purge", err, purgeUsage)
}

// usageErrorOf prefixes err with the command's name and adds its synopsis.
func usageErrorOf(cmd string, err error, usage string) error {
	return fmt.Errorf("%s: %w\n%s", cmd, err, usage)
}

// printSummary writes what r says was purged, one line for this node and
// one per peer.
func printSummary(w io.Writer, node string, r purge.Result) {
	verb, how := "purged", string(r.Kind)
	if r.Soft {
		verb, how = "marked stale", how+", soft"
	}
	if r.Swept {
		fmt.Fprintf(w, "%s: %s (%s: found and removed in the background)\n", node, verb, how)
	} else {
		fmt.Fprintf(w, "%s: %s %d (%s)\n", node, verb, r.Purged, how)
	}
	for _, p := range r.Peers {
		if p.Error != "" {
			fmt.Fprintf(w, "  peer %s: FAILED after %d %s: %s\n", p.Peer, p.Attempts, plural(p.Attempts, "attempt"), oneLine(p.Error))
			continue
		}
		fmt.Fprintf(w, "  peer %s: %s %d\n", p.Peer, verb, p.Purged)
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// oneLine keeps a peer's error, which came over the network, to one line
// of printable text.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if strings.ContainsFunc(s, unicode.IsControl) {
		q := strconv.Quote(s)
		s = q[1 : len(q)-1]
	}
	return s
}
