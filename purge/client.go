package purge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxAnswer caps the body of a node's answer that is read; a Result with
// hundreds of peers is a few KiB.
const maxAnswer = 1 << 20

// Answer is a node's reply to a purge sent to its admin API.
type Answer struct {
	Status int    // HTTP status code
	Result Result // decoded from Body when JSON is true
	JSON   bool   // Body is a JSON Result (a 200, a 404 when an exact purge found nothing, a 207 when peers failed)
	Body   []byte // as received; a refusal's is a short text reason
}

// Applied reports whether the node applied the purge: a 2xx, or a 404
// (an exact purge that found nothing stored, still in force for fills in
// flight), with a JSON Result.
func (a *Answer) Applied() bool {
	return a.JSON && (a.Status >= 200 && a.Status < 300 || a.Status == http.StatusNotFound)
}

// OK reports whether the node purged and so did every peer it forwarded
// to: applied, not 207 Multi-Status, and no failed peer in the Result.
func (a *Answer) OK() bool {
	return a.Applied() && a.Status != http.StatusMultiStatus && Failed(a.Result.Peers) == 0
}

// Reason is a one-line summary of a body that is not a Result (a
// refusal's text), for messages: its first line, control characters
// escaped, at most 200 bytes. It is "" when the body is a Result.
func (a *Answer) Reason() string {
	if a.JSON {
		return ""
	}
	return snippet(a.Body)
}

// Client sends purges to a node's admin API (POST <node>/purge), as
// `cdnnode purge` does. Redirects are not followed: a purge is a POST, and
// a node that redirects it is misconfigured. Safe for concurrent use.
type Client struct {
	// HTTP sends the requests; nil means a client with no timeout. Its
	// CheckRedirect is overridden.
	HTTP  *http.Client
	Token string // sent as "Authorization: Bearer <Token>"; "" sends none
}

// Send posts req to the admin API at node, a base URL such as
// "http://127.0.0.1:9090", and returns the node's answer, whatever its
// status. An error means no complete answer came.
func (c *Client) Send(ctx context.Context, node string, req Request) (*Answer, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("purge: %w", err)
	}
	hc := http.Client{}
	if c.HTTP != nil {
		hc = *c.HTTP
	}
	hc.CheckRedirect = noRedirect
	return post(ctx, &hc, node, body, c.Token, false)
}

// noRedirect makes a client return a 3xx as the answer.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// post sends one purge, the JSON body, to node's /purge and reads the
// answer. hop marks it as forwarded by a peer (HopField), so the receiver
// does not forward it again. Errors are unwrapped from *url.Error: the
// caller knows which node it asked.
func post(ctx context.Context, hc *http.Client, node string, body []byte, token string, hop bool) (*Answer, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(node, "/")+"/purge", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("User-Agent", "cdnnode-purge")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if hop {
		r.Header.Set(HopField, "1")
	}
	resp, err := hc.Do(r)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer (%s): %w", resp.Status, err)
	}
	if len(data) > maxAnswer {
		return nil, fmt.Errorf("answer (%s) is larger than %d bytes", resp.Status, maxAnswer)
	}
	a := &Answer{Status: resp.StatusCode, Body: data}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		a.JSON = json.Unmarshal(t, &a.Result) == nil
	}
	return a, nil
}

// snippet returns b's first non-empty line, control characters escaped,
// cut at 200 bytes.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if strings.ContainsFunc(s, unicode.IsControl) || !utf8.ValidString(s) {
		q := strconv.Quote(s)
		s = q[1 : len(q)-1]
	}
	return s
}
