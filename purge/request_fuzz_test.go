package purge

import (
	"encoding/json"
	"testing"
)

// FuzzRequest feeds the admin API's purge body through decoding and Kind:
// never a panic, and a request Kind accepts names exactly one target, its
// tags, if any, each a ValidTag.
func FuzzRequest(f *testing.F) {
	for _, seed := range []string{
		`{"urls":["http://a.example/x"]}`,
		`{"prefix":"https://a.example/img/","soft":true}`,
		`{"tags":["red","blue"]}`,
		`{"all":"a.example"}`,
		`{"urls":["/relative"]}`,
		`{"all":"a","tags":["t"]}`,
		`{"tags":["product 7"]}`, // a space: no PURGE field could carry it
		`{"tags":["a,b"]}`,       // a comma: no Cache-Tag could
		`{"tags":["caf\u00e9"]}`, // non-ASCII
		`{"urls":["http://[::1"]}`,
		`{}`,
		`[`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req Request
		if json.Unmarshal(body, &req) != nil {
			return
		}
		k, err := req.Kind()
		if err != nil {
			return
		}
		targets := 0
		for _, set := range []bool{len(req.URLs) > 0, req.Prefix != "", len(req.Tags) > 0, req.All != ""} {
			if set {
				targets++
			}
		}
		if targets != 1 || k == "" {
			t.Fatalf("Kind() = %q for %s with %d targets", k, body, targets)
		}
		for _, tag := range req.Tags {
			if !ValidTag(tag) {
				t.Fatalf("Kind() = %q for %s with tag %q", k, body, tag)
			}
		}
	})
}
