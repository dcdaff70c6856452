package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/purge"
)

// adminSeen is what the stand-in admin API saw of one purge.
type adminSeen struct {
	method, path, auth, hop string
	req                     purge.Request
}

// answer is how the stand-in admin API replies: a status and a body.
type answer struct {
	status int
	body   string
}

// jsonAnswer is a 200 or 207 carrying r.
func jsonAnswer(t *testing.T, status int, r purge.Result) answer {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status, string(b) + "\n"}
}

// TestPurgeCommand runs `cdnnode purge` in process against a real HTTP
// server standing in for a node's admin API, checking what the server
// received, what was printed and the exit status.
func TestPurgeCommand(t *testing.T) {
	ok := func(k purge.Kind, n int) answer { return jsonAnswer(t, 200, purge.Result{Kind: k, Purged: n}) }
	fleetOK := jsonAnswer(t, 200, purge.Result{Kind: purge.Exact, Purged: 1, Peers: []purge.PeerResult{
		{Peer: "http://10.0.0.2:9090", Status: 200, Purged: 2, Attempts: 1},
		{Peer: "http://10.0.0.3:9090", Status: 200, Purged: 0, Attempts: 2},
	}})
	partial := jsonAnswer(t, 207, purge.Result{Kind: purge.Tag, Purged: 4, Peers: []purge.PeerResult{
		{Peer: "http://10.0.0.2:9090", Status: 200, Purged: 3, Attempts: 1},
		{Peer: "http://10.0.0.3:9090", Attempts: 3, Error: "attempt 3: dial tcp 10.0.0.3:9090: connect: connection refused"},
	}})
	tests := []struct {
		name       string
		env        string // $CDNNODE_PURGE_TOKEN
		args       []string
		answer     answer
		wantReq    *purge.Request // nil: no request may arrive
		wantAuth   string
		wantCode   int
		wantStdout []string // substrings
		wantStderr []string // substrings
	}{
		{
			name:       "exact URLs",
			args:       []string{"http://example.com/a", "https://example.com/b?x=1"},
			answer:     ok(purge.Exact, 3),
			wantReq:    &purge.Request{URLs: []string{"http://example.com/a", "https://example.com/b?x=1"}},
			wantStdout: []string{": purged 3 (exact)\n"},
		},
		{
			name:       "flags after the URL, soft",
			args:       []string{"http://example.com/a", "--soft"},
			answer:     jsonAnswer(t, 200, purge.Result{Kind: purge.Exact, Soft: true, Purged: 1}),
			wantReq:    &purge.Request{URLs: []string{"http://example.com/a"}, Soft: true},
			wantStdout: []string{"marked stale 1 (exact, soft)"},
		},
		{
			name:    "after --, a flag-like argument is an argument",
			args:    []string{"--", "--soft"},
			wantReq: nil, wantCode: 1,
			wantStderr: []string{`not an absolute http(s) URL`, "usage: cdnnode purge"},
		},
		{
			name:       "prefix",
			args:       []string{"--prefix", "http://example.com/img/"},
			answer:     ok(purge.Prefix, 12),
			wantReq:    &purge.Request{Prefix: "http://example.com/img/"},
			wantStdout: []string{"purged 12 (prefix)"},
		},
		{
			name:       "tags, repeated and trailing",
			args:       []string{"--tag", "product-1", "--tag=product-2", "product-3"},
			answer:     ok(purge.Tag, 5),
			wantReq:    &purge.Request{Tags: []string{"product-1", "product-2", "product-3"}},
			wantStdout: []string{"purged 5 (tag)"},
		},
		{
			name:       "all of a host",
			args:       []string{"-all", "example.com"},
			answer:     ok(purge.All, 40),
			wantReq:    &purge.Request{All: "example.com"},
			wantStdout: []string{"purged 40 (all)"},
		},
		{
			name:       "token from the environment",
			env:        "env-token",
			args:       []string{"--all", "example.com"},
			answer:     ok(purge.All, 0),
			wantReq:    &purge.Request{All: "example.com"},
			wantAuth:   "Bearer env-token",
			wantStdout: []string{"purged 0 (all)"},
		},
		{
			name:     "--token wins over the environment",
			env:      "env-token",
			args:     []string{"--token", "flag-token", "--all", "example.com"},
			answer:   ok(purge.All, 0),
			wantReq:  &purge.Request{All: "example.com"},
			wantAuth: "Bearer flag-token",
		},
		{
			name:       "peers listed",
			args:       []string{"http://example.com/a"},
			answer:     fleetOK,
			wantReq:    &purge.Request{URLs: []string{"http://example.com/a"}},
			wantStdout: []string{"purged 1 (exact)\n", "  peer http://10.0.0.2:9090: purged 2\n", "  peer http://10.0.0.3:9090: purged 0\n"},
		},
		{
			name:       "json",
			args:       []string{"--json", "http://example.com/a"},
			answer:     fleetOK,
			wantReq:    &purge.Request{URLs: []string{"http://example.com/a"}},
			wantStdout: []string{fleetOK.body},
		},
		{
			name:       "partial failure",
			args:       []string{"--tag", "t"},
			answer:     partial,
			wantReq:    &purge.Request{Tags: []string{"t"}},
			wantCode:   1,
			wantStdout: []string{"purged 4 (tag)", "peer http://10.0.0.2:9090: purged 3", "peer http://10.0.0.3:9090: FAILED after 3 attempts: attempt 3: dial tcp"},
			wantStderr: []string{"purge incomplete: 1 of 2 peers failed"},
		},
		{
			name:       "partial failure, json",
			args:       []string{"--json", "--tag", "t"},
			answer:     partial,
			wantReq:    &purge.Request{Tags: []string{"t"}},
			wantCode:   1,
			wantStdout: []string{partial.body},
			wantStderr: []string{"1 of 2 peers failed"},
		},
		{
			name:       "207 without a failed peer",
			args:       []string{"--all", "example.com"},
			answer:     jsonAnswer(t, 207, purge.Result{Kind: purge.All}),
			wantReq:    &purge.Request{All: "example.com"},
			wantCode:   1,
			wantStderr: []string{"answered 207 Multi-Status"},
		},
		{
			name:       "refused",
			args:       []string{"--all", "example.com"},
			answer:     answer{403, "purge not allowed from 192.0.2.1\n"},
			wantReq:    &purge.Request{All: "example.com"},
			wantCode:   1,
			wantStderr: []string{"answered 403 Forbidden: purge not allowed from 192.0.2.1"},
		},
		{
			name:       "token required",
			args:       []string{"--all", "example.com"},
			answer:     answer{401, "purge token required: send Authorization: Bearer <token>\n"},
			wantReq:    &purge.Request{All: "example.com"},
			wantCode:   1,
			wantStderr: []string{"answered 401 Unauthorized: purge token required", "give --token or set $CDNNODE_PURGE_TOKEN"},
		},
		{
			name:       "node rejects the request",
			args:       []string{"--all", "example.com"},
			answer:     answer{400, "purge: invalid request: no such host\n"},
			wantReq:    &purge.Request{All: "example.com"},
			wantCode:   1,
			wantStderr: []string{"answered 400 Bad Request: purge: invalid request"},
		},
		{
			name:       "nothing cached",
			args:       []string{"http://example.com/a"},
			answer:     jsonAnswer(t, 404, purge.Result{Kind: purge.Exact}),
			wantReq:    &purge.Request{URLs: []string{"http://example.com/a"}},
			wantCode:   0,
			wantStdout: []string{"purged 0 (exact)"},
		},
		{
			name:       "404 without a result",
			args:       []string{"http://example.com/a"},
			answer:     answer{404, "404 page not found\n"},
			wantReq:    &purge.Request{URLs: []string{"http://example.com/a"}},
			wantCode:   1,
			wantStderr: []string{"answered 404 Not Found: 404 page not found"},
		},
		{
			name:       "2xx without a result",
			args:       []string{"--all", "example.com"},
			answer:     answer{200, "ok\n"},
			wantReq:    &purge.Request{All: "example.com"},
			wantCode:   1,
			wantStderr: []string{"answered 200 with no purge result"},
		},

		// Usage errors: nothing is sent.
		{name: "nothing to purge", args: nil, wantCode: 1, wantStderr: []string{"nothing to purge", "usage: cdnnode purge"}},
		{name: "only flags", args: []string{"--soft", "--json"}, wantCode: 1, wantStderr: []string{"nothing to purge"}},
		{name: "URL and prefix", args: []string{"--prefix", "http://example.com/a/", "http://example.com/b"}, wantCode: 1, wantStderr: []string{"unexpected arguments", "--prefix and --all take one value"}},
		{name: "prefix and all", args: []string{"--prefix", "http://example.com/a/", "--all", "example.com"}, wantCode: 1, wantStderr: []string{"give only one of URLs, --prefix, --tag and --all"}},
		{name: "tag and all", args: []string{"--tag", "t", "--all", "example.com"}, wantCode: 1, wantStderr: []string{"give only one of"}},
		{name: "relative URL", args: []string{"/a"}, wantCode: 1, wantStderr: []string{`"/a" is not an absolute http(s) URL`}},
		{name: "URL without scheme", args: []string{"example.com/a"}, wantCode: 1, wantStderr: []string{`not an absolute http(s) URL`}},
		{name: "tag with a space", args: []string{"--tag", "a b"}, wantCode: 1, wantStderr: []string{`tag "a b"`}},
		{name: "all given a URL", args: []string{"--all", "http://example.com/"}, wantCode: 1, wantStderr: []string{`host "http://example.com/"`}},
		{name: "unknown flag", args: []string{"--hard", "http://example.com/a"}, wantCode: 1, wantStderr: []string{"flag provided but not defined: -hard"}},
		{name: "flag without value", args: []string{"http://example.com/a", "--node"}, wantCode: 1, wantStderr: []string{"flag needs an argument: -node"}},
		{name: "bad node", args: []string{"--node", "127.0.0.1:9090", "http://example.com/a"}, wantCode: 1, wantStderr: []string{`invalid --node "127.0.0.1:9090"`}},
		{name: "help", env: "secret-in-env", args: []string{"-h"}, wantCode: 0, wantStderr: []string{"usage: cdnnode purge", "-prefix URL"}},
		{
			name:     "empty --token sends none despite the environment",
			env:      "env-token",
			args:     []string{"--token=", "--all", "example.com"},
			answer:   ok(purge.All, 0),
			wantReq:  &purge.Request{All: "example.com"},
			wantAuth: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tokenEnv, tt.env)
			seen := make(chan adminSeen, 4)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := adminSeen{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"), hop: r.Header.Get(purge.HopField)}
				if err := json.NewDecoder(r.Body).Decode(&s.req); err != nil {
					t.Errorf("admin: decoding the body: %v", err)
				}
				seen <- s
				if strings.HasPrefix(tt.answer.body, "{") {
					w.Header().Set("Content-Type", "application/json")
				} else {
					w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				}
				w.WriteHeader(tt.answer.status)
				_, _ = w.Write([]byte(tt.answer.body))
			}))
			defer srv.Close()

			args := append([]string{"purge", "--node", srv.URL}, tt.args...)
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("cdnnode %q exited %d, want %d; stderr:\n%s", args, code, tt.wantCode, stderr.String())
			}
			for _, w := range tt.wantStdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout %q does not contain %q", stdout.String(), w)
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not contain %q", stderr.String(), w)
				}
			}
			if tt.env != "" && strings.Contains(stdout.String()+stderr.String(), tt.env) {
				t.Errorf("output shows the token from the environment:\n%s%s", stdout.String(), stderr.String())
			}
			if tt.wantCode == 0 && stderr.Len() > 0 && tt.name != "help" {
				t.Errorf("stderr = %q, want nothing on success", stderr.String())
			}
			select {
			case s := <-seen:
				if tt.wantReq == nil {
					t.Fatalf("admin API got %+v, want no request", s)
				}
				want := adminSeen{method: "POST", path: "/purge", auth: tt.wantAuth, req: *tt.wantReq}
				if !reflect.DeepEqual(s, want) {
					t.Errorf("admin API got %+v, want %+v", s, want)
				}
			default:
				if tt.wantReq != nil {
					t.Errorf("admin API got no request, want %+v", *tt.wantReq)
				}
			}
		})
	}
}

// TestPurgeCommandJSONIsTheAnswer checks that --json prints the node's
// answer byte for byte, and only that.
func TestPurgeCommandJSONIsTheAnswer(t *testing.T) {
	t.Setenv(tokenEnv, "")
	body := `{"kind":"exact","purged":2,"peers":[{"peer":"http://10.0.0.2:9090","status":200,"purged":1,"attempts":1}]}` + "\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"purge", "--json", "--node", srv.URL + "/", "http://example.com/a"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if stdout.String() != body {
		t.Errorf("stdout = %q, want %q", stdout.String(), body)
	}
}

// TestPurgeCommandNodeDown checks that an unreachable node fails the
// command with the reason.
func TestPurgeCommandNodeDown(t *testing.T) {
	t.Setenv(tokenEnv, "")
	node := "http://" + testkit.FreeAddr(t)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"purge", "--node", node, "http://example.com/a"}, &stdout, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if want := "cdnnode: purge: " + node + ": "; !strings.HasPrefix(stderr.String(), want) || !strings.Contains(stderr.String(), "connection refused") {
		t.Errorf("stderr = %q, want it to start %q and say connection refused", stderr.String(), want)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", stdout.String())
	}
}
