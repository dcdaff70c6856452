package purge

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestClientSend(t *testing.T) {
	fleet := Result{Kind: Tag, Purged: 2, Peers: []PeerResult{{Peer: "http://10.0.0.2:9090", Status: 200, Purged: 1, Attempts: 1}}}
	failed := Result{Kind: Tag, Purged: 2, Peers: []PeerResult{{Peer: "http://10.0.0.2:9090", Attempts: 3, Error: "connection refused"}}}
	tests := []struct {
		name       string
		token      string
		status     int
		body       string
		wantJSON   bool
		wantPurged int
		wantOK     bool
		wantReason string
	}{
		{"purged", "tok", 200, mustJSON(t, fleet), true, 2, true, ""},
		{"no token", "", 200, mustJSON(t, Result{Kind: All}), true, 0, true, ""},
		{"a peer failed, 200", "tok", 200, mustJSON(t, failed), true, 2, false, ""},
		{"multi-status", "tok", 207, mustJSON(t, failed), true, 2, false, ""},
		{"refused", "tok", 403, "purge not allowed from 192.0.2.1\n", false, 0, false, "purge not allowed from 192.0.2.1"},
		{"redirect is the answer", "tok", 308, "", false, 0, false, ""},
		{"multi-line reason", "", 400, "first line\nsecond line\n", false, 0, false, "first line"},
		{"control characters escaped", "", 400, "bad \x1b[31m red\n", false, 0, false, `bad \x1b[31m red`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := make(chan *http.Request, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var req Request
				if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Tags) != 1 {
					t.Errorf("node got body %+v, %v; want one tag", req, err)
				}
				seen <- r
				if tt.status/100 == 3 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c := Client{Token: tt.token}
			a, err := c.Send(context.Background(), srv.URL, Request{Tags: []string{"t"}})
			if err != nil {
				t.Fatal(err)
			}
			r := <-seen
			wantAuth := ""
			if tt.token != "" {
				wantAuth = "Bearer " + tt.token
			}
			if r.Method != "POST" || r.URL.Path != "/purge" || r.Header.Get("Authorization") != wantAuth || r.Header.Get(HopField) != "" || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("node got %s %s, Authorization %q, hop %q, Content-Type %q; want POST /purge, %q, no hop, application/json",
					r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get(HopField), r.Header.Get("Content-Type"), wantAuth)
			}
			if a.Status != tt.status || a.JSON != tt.wantJSON || a.Result.Purged != tt.wantPurged || a.OK() != tt.wantOK {
				t.Errorf("Send = status %d, JSON %v, purged %d, OK %v; want %d, %v, %d, %v", a.Status, a.JSON, a.Result.Purged, a.OK(), tt.status, tt.wantJSON, tt.wantPurged, tt.wantOK)
			}
			if got := a.Reason(); got != tt.wantReason {
				t.Errorf("Reason() = %q, want %q", got, tt.wantReason)
			}
		})
	}
}

func TestClientSendAnswerTooLarge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", maxAnswer+1)))
	}))
	defer srv.Close()
	var c Client
	if _, err := c.Send(context.Background(), srv.URL, Request{All: "example.com"}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Send = %v, want an answer-too-large error", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
