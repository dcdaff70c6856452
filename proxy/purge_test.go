package proxy

import (
	"reflect"
	"testing"

	"github.com/cdnnode/cdnnode/purge"
)

func TestPurgeFromRequest(t *testing.T) {
	tests := []struct {
		name      string
		uri       string
		tags      []string
		mode      []string
		want      purge.Request
		wantKind  purge.Kind
		wantError bool
	}{
		{name: "exact", uri: "/a/b?x=1", want: purge.Request{URLs: []string{"https://a.example/a/b?x=1"}}, wantKind: purge.Exact},
		{name: "soft", uri: "/a", mode: []string{" Soft "}, want: purge.Request{URLs: []string{"https://a.example/a"}, Soft: true}, wantKind: purge.Exact},
		{name: "other mode is hard", uri: "/a", mode: []string{"hard"}, want: purge.Request{URLs: []string{"https://a.example/a"}}, wantKind: purge.Exact},
		{name: "prefix", uri: "/img/*", want: purge.Request{Prefix: "https://a.example/img/"}, wantKind: purge.Prefix},
		{name: "a star in the query is exact", uri: "/q?x=*", want: purge.Request{URLs: []string{"https://a.example/q?x=*"}}, wantKind: purge.Exact},
		{name: "all", uri: "/*", want: purge.Request{All: "a.example"}, wantKind: purge.All},
		{name: "tags", uri: "/", tags: []string{"red  blue", "green"}, want: purge.Request{Tags: []string{"red", "blue", "green"}}, wantKind: purge.Tag},
		{name: "empty tag field", uri: "/", tags: []string{" "}, want: purge.Request{}, wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := purgeFromRequest("https", "a.example", tt.uri, tt.tags, tt.mode)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("purgeFromRequest(%q) = %+v, want %+v", tt.uri, got, tt.want)
			}
			k, err := got.Kind()
			if k != tt.wantKind || (err != nil) != tt.wantError {
				t.Errorf("Kind() = %q, %v; want %q, error %v", k, err, tt.wantKind, tt.wantError)
			}
		})
	}
}
