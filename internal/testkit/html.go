package testkit

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// CheckSelfContained fails t if the HTML document doc would make a browser
// load or run anything: a script, link, img, image, iframe, object or embed
// element; CSS with url() or @import in a style element, or with url() in
// a style attribute; an event handler attribute (on...); or a src, href,
// srcset, action, poster or namespaced href (xlink:href) attribute at all,
// whatever it points at. It reports every such fault with t.Errorf, so the
// test goes on.
func CheckSelfContained(t testing.TB, doc *html.Node) {
	t.Helper()
	for _, f := range selfContainedFaults(doc) {
		t.Error(f)
	}
}

// selfContainedFaults lists what CheckSelfContained reports, one line a
// fault, in document order.
func selfContainedFaults(doc *html.Node) []string {
	var faults []string
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch n.DataAtom {
		case atom.Script, atom.Link, atom.Img, atom.Image, atom.Iframe, atom.Object, atom.Embed:
			faults = append(faults, fmt.Sprintf("page has a <%s> element", n.Data))
		case atom.Style:
			if css := Text(n); strings.Contains(css, "url(") || strings.Contains(css, "@import") {
				faults = append(faults, fmt.Sprintf("page's CSS loads something: %s", css))
			}
		}
		for _, a := range n.Attr {
			k := strings.ToLower(a.Key)
			switch {
			case strings.HasPrefix(k, "on"):
				faults = append(faults, fmt.Sprintf("<%s> has a handler %s=%q", n.Data, a.Key, a.Val))
			case k == "src" || k == "href" || k == "srcset" || k == "action" || k == "poster" || strings.HasSuffix(k, ":href"):
				faults = append(faults, fmt.Sprintf("<%s %s=%q>: the page must not refer to anything", n.Data, a.Key, a.Val))
			case k == "style" && strings.Contains(a.Val, "url("):
				faults = append(faults, fmt.Sprintf("<%s> style loads something: %q", n.Data, a.Val))
			}
		}
	}
	return faults
}

// TableRows is the rows of the table bodies in doc by label, the text of
// their first td cell: each row's other td cells' text. Rows without a td
// cell, such as section headings, are left out.
func TableRows(doc *html.Node) map[string][]string {
	rows := map[string][]string{}
	for n := range doc.Descendants() {
		if n.DataAtom != atom.Tr || n.Parent.DataAtom != atom.Tbody {
			continue
		}
		var cells []string
		for c := range n.ChildNodes() {
			if c.DataAtom == atom.Td {
				cells = append(cells, Text(c))
			}
		}
		if len(cells) > 0 {
			rows[cells[0]] = cells[1:]
		}
	}
	return rows
}

// Text is the text inside n: its descendant text nodes, joined and
// trimmed of surrounding white space.
func Text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return strings.TrimSpace(b.String())
}
