package purge

import (
	"errors"
	"testing"
)

func TestKind(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want Kind // "" when Kind must refuse it (ErrInvalid)
	}{
		{"exact", Request{URLs: []string{"http://a.example/x", "https://a.example/y?q=1"}}, Exact},
		{"prefix", Request{Prefix: "https://a.example/img/"}, Prefix},
		{"all", Request{All: "a.example"}, All},
		{"tags", Request{Tags: []string{"product-7", `user:7/"x";y=1`}}, Tag},
		{"nothing", Request{}, ""},
		{"two targets", Request{All: "a.example", Tags: []string{"t"}}, ""},
		{"relative URL", Request{URLs: []string{"/x"}}, ""},
		{"ftp URL", Request{URLs: []string{"ftp://a.example/x"}}, ""},
		{"prefix without a host", Request{Prefix: "http:///x"}, ""},
		{"all with a path", Request{All: "a.example/x"}, ""},
		{"empty tag", Request{Tags: []string{"a", ""}}, ""},
		{"tag with a space", Request{Tags: []string{"product 7"}}, ""},
		{"tag with a comma", Request{Tags: []string{"a,b"}}, ""},
		{"tag with a control byte", Request{Tags: []string{"a\x00"}}, ""},
		{"non-ascii tag", Request{Tags: []string{"caf\u00e9"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.req.Kind()
			if got != tt.want || (tt.want == "") != errors.Is(err, ErrInvalid) {
				t.Errorf("Kind(%+v) = %q, %v; want %q", tt.req, got, err, tt.want)
			}
		})
	}
}

func TestValidTag(t *testing.T) {
	tests := []struct {
		tag  string
		want bool
	}{
		{"a", true},
		{"product-7", true},
		{"!~", true}, // the ends of visible ASCII
		{`user:7/"x";y=1`, true},
		{"", false},
		{" ", false},
		{"a b", false},
		{"a\tb", false},
		{"a,b", false},
		{",", false},
		{"a\x00", false},
		{"a\x1f", false},
		{"a\x7f", false},
		{"caf\u00e9", false},
		{"\xff", false},
	}
	for _, tt := range tests {
		if got := ValidTag(tt.tag); got != tt.want {
			t.Errorf("ValidTag(%q) = %v, want %v", tt.tag, got, tt.want)
		}
	}
}
