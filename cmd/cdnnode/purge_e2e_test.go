package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cdnnode/cdnnode/internal/testkit"
	"github.com/cdnnode/cdnnode/purge"
)

// purgeToken is the purge token of the nodes TestPurgeCLIEndToEnd starts.
const purgeToken = "e2e-s3cret-token"

// purgeCLI runs `cdnnode purge args...`, the real binary, with
// $CDNNODE_PURGE_TOKEN set to env, and returns its exit status and output.
func purgeCLI(t *testing.T, env string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"purge"}, args...)...)
	cmd.Env = append(os.Environ(), tokenEnv+"="+env) // the last setting wins
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && ctx.Err() == nil:
		code = exit.ExitCode()
	default:
		t.Fatalf("cdnnode purge %q: %v; stderr:\n%s", args, err, errOut.String())
	}
	return code, out.String(), errOut.String()
}

// purgeNode starts the binary serving in front of the demo origin at
// originAddr, with the [purge] table's lines purgeLines.
func purgeNode(t *testing.T, originAddr string, purgeLines ...string) *nodeProc {
	t.Helper()
	// nodeConfig's last extra lines end [cache.disk]: a table may follow.
	extra := "[purge]\n" + strings.Join(purgeLines, "\n")
	return launch(t, binary, nodeConfig(t, originAddr, filepath.Join(t.TempDir(), "cache"), "", extra))
}

// TestPurgeCLIEndToEnd runs `cdnnode purge` against real nodes: one that
// takes purges only with its token, and one that trusts loopback and
// forwards every purge to the first and to a peer that is down. Each case
// stores its objects first, then checks the exit status, the output and
// what the nodes serve afterwards.
func TestPurgeCLIEndToEnd(t *testing.T) {
	originAddr := startOrigin(t, binary)
	guarded := purgeNode(t, originAddr, "allow = []", fmt.Sprintf("token = %q", purgeToken))
	down := "http://" + testkit.FreeAddr(t)
	fleet := purgeNode(t, originAddr, fmt.Sprintf("token = %q", purgeToken),
		fmt.Sprintf("peers = [%q, %q]", "http://"+guarded.admin, down), `peer_timeout = "2s"`, "peer_retries = 1")
	c := newClient(t)
	const (
		cc    = "?cc=max-age%3D600"
		swrCC = "?cc=max-age%3D600%2C%20stale-while-revalidate%3D600"
	)
	url := func(pathQuery string) string { return "http://" + cdnHost + pathQuery }

	tests := []struct {
		name       string
		node       *nodeProc   // the node the command is sent to
		on         []*nodeProc // nodes the objects are stored on first and checked on after; default node
		objects    []string
		env        string // $CDNNODE_PURGE_TOKEN
		args       []string
		wantCode   int
		wantStdout []string      // substrings
		wantStderr []string      // substrings
		wantJSON   *purge.Result // stdout decoded, for --json
		after      string        // in each object's Cache-Status afterwards
	}{
		{
			name: "URL with --token", node: guarded,
			objects:    []string{"/obj/cli/exact" + cc},
			args:       []string{"--token", purgeToken, url("/obj/cli/exact" + cc)},
			wantStdout: []string{"http://" + guarded.admin + ": purged 1 (exact)\n"},
			after:      "fwd=miss",
		},
		{
			name: "--tag with the token from the environment", node: guarded,
			objects:    []string{"/obj/cli/tag-a" + cc + "&tags=cli-tag", "/obj/cli/tag-b" + cc + "&tags=other,cli-tag"},
			env:        purgeToken,
			args:       []string{"--tag", "cli-tag"},
			wantStdout: []string{"purged 2 (tag)\n"},
			after:      "fwd=miss",
		},
		{
			name: "--json", node: guarded,
			objects:  []string{"/obj/cli/json/a" + cc, "/obj/cli/json/b" + cc},
			args:     []string{"--json", "--token", purgeToken, "--prefix", url("/obj/cli/json/")},
			wantJSON: &purge.Result{Kind: purge.Prefix, Swept: true},
			after:    "fwd=miss",
		},
		{
			name: "--soft", node: guarded,
			objects:    []string{"/obj/cli/soft" + swrCC},
			args:       []string{url("/obj/cli/soft" + swrCC), "--soft", "--token", purgeToken},
			wantStdout: []string{"marked stale 1 (exact, soft)\n"},
			after:      "detail=stale-while-revalidate",
		},
		{
			name: "wrong token", node: guarded,
			objects:    []string{"/obj/cli/wrong-token" + cc},
			args:       []string{"--token", "wrong", url("/obj/cli/wrong-token" + cc)},
			wantCode:   1,
			wantStderr: []string{"answered 403 Forbidden: invalid purge token"},
			after:      "cdnnode; hit",
		},
		{
			name: "no token", node: guarded,
			objects:    []string{"/obj/cli/no-token" + cc},
			args:       []string{url("/obj/cli/no-token" + cc)},
			wantCode:   1,
			wantStderr: []string{"answered 401 Unauthorized: purge token required", "(give --token or set $" + tokenEnv + ")"},
			after:      "cdnnode; hit",
		},
		{
			name: "a peer down", node: fleet, on: []*nodeProc{fleet, guarded},
			objects:  []string{"/obj/cli/fleet" + cc},
			args:     []string{url("/obj/cli/fleet" + cc)},
			wantCode: 1,
			wantStdout: []string{
				"http://" + fleet.admin + ": purged 1 (exact)\n",
				"  peer http://" + guarded.admin + ": purged 1\n",
				"  peer " + down + ": FAILED after 2 attempts: ",
			},
			wantStderr: []string{"purge incomplete: 1 of 2 peers failed"},
			after:      "fwd=miss",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			on := tt.on
			if on == nil {
				on = []*nodeProc{tt.node}
			}
			for _, n := range on {
				for _, p := range tt.objects {
					fetch(c, n.url(p))
					testkit.WaitFor(t, p+" to be stored", func() bool { return strings.HasPrefix(fetch(c, n.url(p)).cacheStatus(), "cdnnode; hit") })
				}
			}
			args := append([]string{"--node", "http://" + tt.node.admin}, tt.args...)
			code, stdout, stderr := purgeCLI(t, tt.env, args...)
			if code != tt.wantCode {
				t.Errorf("cdnnode purge %q exited %d, want %d; stdout:\n%s\nstderr:\n%s", args, code, tt.wantCode, stdout, stderr)
			}
			for _, w := range tt.wantStdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout %q does not contain %q", stdout, w)
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not contain %q", stderr, w)
				}
			}
			if tt.wantCode == 0 && stderr != "" {
				t.Errorf("stderr = %q, want nothing on success", stderr)
			}
			if tt.wantJSON != nil {
				var got purge.Result
				if err := json.Unmarshal([]byte(stdout), &got); err != nil || !reflect.DeepEqual(got, *tt.wantJSON) {
					t.Errorf("stdout %q = %+v (%v), want %+v", stdout, got, err, *tt.wantJSON)
				}
			}
			for _, n := range on {
				for _, p := range tt.objects {
					if cs := fetch(c, n.url(p)).cacheStatus(); !strings.Contains(cs, tt.after) {
						t.Errorf("node %s, %s afterwards: %q, want %q", n.addr, p, cs, tt.after)
					}
				}
			}
		})
	}
}
