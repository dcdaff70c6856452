package health

import "testing"

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		want    string // the set written back; "" when parsing fails
		in, out []int
	}{
		{name: "one code", spec: "200", want: "200", in: []int{200}, out: []int{199, 201, 204}},
		{name: "range", spec: "200-399", want: "200-399", in: []int{200, 302, 399}, out: []int{199, 400, 503}},
		{name: "list with spaces", spec: " 200, 204 ,300-308", want: "200,204,300-308", in: []int{200, 204, 301}, out: []int{201, 309}},
		{name: "one-code range", spec: "404-404", want: "404", in: []int{404}, out: []int{403, 405}},
		{name: "empty", spec: ""},
		{name: "empty item", spec: "200,,204"},
		{name: "descending range", spec: "399-200"},
		{name: "below 100", spec: "099"},
		{name: "above 599", spec: "600"},
		{name: "not three digits", spec: "2000"},
		{name: "sign", spec: "+20"},
		{name: "open range", spec: "200-"},
		{name: "word", spec: "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := parseStatus(tt.spec)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("parseStatus(%q) = %v, want an error", tt.spec, set)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseStatus(%q): %v", tt.spec, err)
			}
			if got := set.String(); got != tt.want {
				t.Errorf("parseStatus(%q).String() = %q, want %q", tt.spec, got, tt.want)
			}
			for _, code := range tt.in {
				if !set.contains(code) {
					t.Errorf("parseStatus(%q).contains(%d) = false, want true", tt.spec, code)
				}
			}
			for _, code := range tt.out {
				if set.contains(code) {
					t.Errorf("parseStatus(%q).contains(%d) = true, want false", tt.spec, code)
				}
			}
		})
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add("200-399")           // the default
	f.Add("200,204, 300-308")  // codes and ranges, spaced
	f.Add("399-200")           // descending: rejected
	f.Add("200,,")             // empty items: rejected
	f.Add("1e2")               // not digits: rejected
	f.Add("100-599,100-599,5") // overlapping ranges, then a short code
	f.Fuzz(func(t *testing.T, s string) {
		set, err := parseStatus(s)
		if err != nil {
			return
		}
		again, err := parseStatus(set.String())
		if err != nil || again.String() != set.String() {
			t.Fatalf("round trip of %q changed: %q, %v", s, set.String(), err)
		}
		for _, r := range set {
			if r.lo < 100 || r.hi > 599 || r.lo > r.hi {
				t.Fatalf("parseStatus(%q) accepted the range %d-%d", s, r.lo, r.hi)
			}
		}
	})
}
