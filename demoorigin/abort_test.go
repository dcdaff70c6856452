package demoorigin

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

func TestAbort(t *testing.T) {
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		for _, n := range []int{0, 100, 70_000} {
			t.Run(proto+"/"+strconv.Itoa(n), func(t *testing.T) {
				ts := httptest.NewUnstartedServer(New(nil))
				ts.EnableHTTP2 = proto == "HTTP/2.0"
				ts.StartTLS()
				defer ts.Close()
				const size = 200_000
				resp, err := ts.Client().Get(ts.URL + "/obj/a?size=200000&abort=" + strconv.Itoa(n))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.Proto != proto {
					t.Fatalf("proto %s, want %s", resp.Proto, proto)
				}
				if resp.StatusCode != http.StatusOK || resp.ContentLength != size {
					t.Fatalf("status %d, Content-Length %d; want 200, %d", resp.StatusCode, resp.ContentLength, size)
				}
				body, err := io.ReadAll(resp.Body)
				if err == nil {
					t.Fatalf("read %d of %d bytes without an error", len(body), size)
				}
				if len(body) > n || !bytes.Equal(body, expected("a", size)[:len(body)]) {
					t.Errorf("got %d bytes before %v, want at most the first %d of the body", len(body), err, n)
				}
			})
		}
	}
}

func TestAbortWholeBodyStillFails(t *testing.T) {
	// abort at or past the size sends every byte and still kills the
	// connection: the client may or may not notice, but the server must
	// not hang or panic beyond ErrAbortHandler.
	_, ts := newOrigin(t)
	resp, err := ts.Client().Get(ts.URL + "/obj/a?size=10&abort=99")
	if err != nil {
		return // the connection died before the headers were read
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(body, expected("a", len(body))) || len(body) > 10 {
		t.Errorf("body %q is not a prefix of the object", body)
	}
}
