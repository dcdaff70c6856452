package config

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	pathpkg "path"
	"strconv"
	"strings"
	"unicode"
)

// Limits on peers.
const (
	maxWeight = 1000
	// maxTotalWeight bounds the sum of a pool's weights, and so its ketama
	// ring; it is origin/balance.MaxTotalWeight.
	maxTotalWeight = 4096
	// maxPeers is the most peers a pool can have: each weighs at least 1.
	maxPeers = maxTotalWeight
	// maxPeersFile is the largest peers file read.
	maxPeersFile = Size(1 << 20)
	// maxUnixPath is the longest socket path: Linux's sun_path holds 108
	// bytes, the terminating NUL included.
	maxUnixPath = 107
)

// String returns the peer as a canonical entry: "http://10.0.0.1:80",
// "https://[::1]:8443", "unix:/run/origin.sock". Two peers of a pool never
// have the same String.
func (p Peer) String() string {
	if p.Scheme == "unix" {
		return "unix:" + p.Addr
	}
	return p.Scheme + "://" + p.Addr
}

// hasScheme reports whether the peer entry s names its scheme.
func hasScheme(s string) bool {
	return strings.Contains(s, "://") || len(s) >= 5 && strings.EqualFold(s[:5], "unix:")
}

// ParsePeer parses a peer entry as the peers key and peers files take it,
// for peers given at run time (the admin API): see parsePeer.
func ParsePeer(s, def string) (Peer, error) { return parsePeer(s, def) }

// parsePeer parses a peer entry: "host:port" (of scheme def, "http" or
// "https"), "http://host:port", "https://host:port" or "unix:/abs/path",
// the scheme in any case. The port is 1-65535. The result has weight 1 and
// no overrides.
func parsePeer(s, def string) (Peer, error) {
	if len(s) >= 5 && strings.EqualFold(s[:5], "unix:") {
		return parseUnixPeer(s)
	}
	p := Peer{Scheme: def, Weight: 1}
	hostport := s
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		p.Scheme = strings.ToLower(scheme)
		if p.Scheme != "http" && p.Scheme != "https" {
			return Peer{}, fmt.Errorf("invalid peer %q: unknown scheme %q: want http://, https:// or unix:", s, scheme)
		}
		hostport = rest
	}
	if strings.ContainsAny(hostport, "/?#@") {
		return Peer{}, fmt.Errorf("invalid peer %q: want host:port, with no path, query or user", s)
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return Peer{}, fmt.Errorf("invalid peer %q: want host:port", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return Peer{}, fmt.Errorf("invalid peer %q: port %q is not a number in 1-65535", s, port)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.String()
	} else if validHostname(host) {
		host = strings.ToLower(host)
	} else {
		return Peer{}, fmt.Errorf("invalid peer %q: bad host %q", s, host)
	}
	p.Addr = net.JoinHostPort(host, strconv.FormatUint(n, 10))
	return p, nil
}

// parseUnixPeer parses "unix:/abs/path".
func parseUnixPeer(s string) (Peer, error) {
	sock := s[len("unix:"):]
	switch {
	case !strings.HasPrefix(sock, "/"):
		return Peer{}, fmt.Errorf("invalid peer %q: want an absolute socket path, such as \"unix:/run/origin.sock\"", s)
	case strings.ContainsFunc(sock, unicode.IsControl):
		return Peer{}, fmt.Errorf("invalid peer %q: control character in the socket path", s)
	case pathpkg.Clean(sock) != sock:
		return Peer{}, fmt.Errorf("invalid peer %q: write the socket path in clean form, \"unix:%s\"", s, pathpkg.Clean(sock))
	case len(sock) > maxUnixPath:
		return Peer{}, fmt.Errorf("invalid peer %q: the socket path is %d bytes, more than the %d a unix socket address holds", s, len(sock), maxUnixPath)
	}
	return Peer{Addr: sock, Scheme: "unix", Weight: 1}, nil
}

// ParsePeersFile reads a peers file: one peer per line, written as an entry
// of a pool's peers ("10.0.0.1:80", "https://origin.example:443",
// "unix:/run/origin.sock"), where an entry without a scheme is http (the
// file is read without its pool, so an https pool's file names the
// scheme). Blank lines are skipped and '#' at the start of a line or after
// a space starts a comment. It returns the peers in file order, with weight
// 1, not backups and no overrides; nil for a file with none.
//
// A file that is not a regular file of at most 1MiB fails with the I/O
// error. Otherwise each bad line, a peer listed twice and more than 4096
// peers is one *Error naming the file and line ("peers.txt:3: reason"),
// joined with errors.Join when there are several. Parse reads each pool's
// peers_file with it at start-up; the runtime calls it again when the file
// changes.
func ParsePeersFile(name string) ([]Peer, error) {
	fps, err := readPeersFile(name, "http")
	if err != nil {
		return nil, err
	}
	var peers []Peer
	for _, fp := range fps {
		peers = append(peers, fp.Peer)
	}
	return peers, nil
}

// filePeer is a peer and the line of its peers file it is on.
type filePeer struct {
	Peer
	line int
}

// readPeersFile reads the peers file name, as ParsePeersFile describes.
// def is the scheme of entries without one; "" makes them an error, so a
// peers file of an https pool means the same to Parse as to
// ParsePeersFile.
func readPeersFile(name, def string) ([]filePeer, error) {
	data, err := readSmallFile(name, maxPeersFile)
	if err != nil {
		return nil, err
	}
	var (
		peers []filePeer
		errs  []*Error
		seen  = make(map[string]int) // Peer.String → line
	)
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		entry := strings.TrimSpace(stripComment(line))
		fail := func(format string, args ...any) {
			errs = append(errs, &Error{File: name, Line: n, Msg: oneLine(fmt.Sprintf(format, args...))})
		}
		switch {
		case entry == "":
			continue
		case strings.ContainsFunc(entry, unicode.IsSpace):
			fail("want one peer per line, got %q", entry)
			continue
		case def == "" && !hasScheme(entry):
			fail("peer %q names no scheme: a peers file is read without its pool, where an entry without a scheme is http; write \"https://%s\"", entry, entry)
			continue
		}
		p, err := parsePeer(entry, def)
		if err != nil {
			fail("%v", err)
			continue
		}
		if first, ok := seen[p.String()]; ok {
			fail("peer %s is listed twice (first on line %d)", p, first)
			continue
		}
		seen[p.String()] = n
		if len(peers) == maxPeers {
			fail("more than %d peers", maxPeers)
			break
		}
		peers = append(peers, filePeer{Peer: p, line: n})
	}
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	return peers, nil
}

// stripComment cuts line at a '#' that starts it or follows a space or tab.
func stripComment(line string) string {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			return line[:i]
		}
	}
	return line
}

// readSmallFile reads the regular file name, failing if it holds more than
// limit bytes.
func readSmallFile(name string, limit Size) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if Size(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %s", name, limit)
	}
	return data, nil
}

// splitErrors returns the errors err joins, or err alone.
func splitErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
