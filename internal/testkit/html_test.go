package testkit

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func TestSelfContainedFaults(t *testing.T) {
	tests := []struct {
		name string
		page string
		want []string // a part of each fault, in order
	}{
		{"self-contained", `<!DOCTYPE html><html><head><style>td { color: red }</style></head>` +
			`<body><table><tr><td style="color: blue">x</td></tr></table><svg><text>y</text></svg></body></html>`, nil},
		{"script", `<p>a<script>alert(1)</script>`, []string{"<script> element"}},
		{"image and iframe", `<img><iframe></iframe>`, []string{"<img> element", "<iframe> element"}},
		{"CSS url", `<style>body { background: url(x.png) }</style>`, []string{"CSS loads something"}},
		{"CSS import", `<style>@import "x.css";</style>`, []string{"CSS loads something"}},
		{"handler", `<div onclick="f()">x</div>`, []string{"handler onclick"}},
		{"local href", `<a href="#top">top</a>`, []string{`href="#top"`}},
		{"form action", `<form action="/send"></form>`, []string{`action="/send"`}},
		{"video poster", `<video poster="p.png"></video>`, []string{`poster="p.png"`}},
		{"svg xlink:href", `<svg><use xlink:href="#a"/></svg>`, []string{`href="#a"`}},
		{"style attribute url", `<div style="background:url(x.png)">x</div>`, []string{"style loads something"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := html.Parse(strings.NewReader(tt.page))
			if err != nil {
				t.Fatal(err)
			}
			got := selfContainedFaults(doc)
			if len(got) != len(tt.want) {
				t.Fatalf("selfContainedFaults(%q) = %q, want %d faults", tt.page, got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("selfContainedFaults(%q)[%d] = %q, want it to say %q", tt.page, i, got[i], w)
				}
			}
		})
	}
}

func TestText(t *testing.T) {
	doc, err := html.Parse(strings.NewReader("<p>\n  one <b>two</b>\tthree\n</p>"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Text(doc), "one two\tthree"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
}

func TestTableRows(t *testing.T) {
	doc, err := html.Parse(strings.NewReader(`<table>
<thead><tr><th></th><th>A</th></tr></thead>
<tbody>
<tr><th class="section">Requests</th></tr>
<tr><td>requests</td><td> 300 </td></tr>
<tr><td>errors</td><td>0</td><td>0</td></tr>
</tbody>
<tfoot><tr><td>footer</td><td>x</td></tr></tfoot>
</table>`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"requests": {"300"}, "errors": {"0", "0"}}
	if got := TableRows(doc); !reflect.DeepEqual(got, want) {
		t.Errorf("TableRows = %q, want %q", got, want)
	}
}
