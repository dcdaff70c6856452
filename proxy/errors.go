package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"

	"github.com/cdnnode/cdnnode/config"
)

// errorPage renders the answers the node generates itself (4xx and 5xx
// such as 403, 429, 502) for one site: plain text (the zero value), JSON,
// or HTML from the built-in page or the site's own template (errors,
// error_page).
type errorPage struct {
	format string // "text", "json" or "html"
	html   *template.Template
}

// builtinPage is the HTML error page when a site names no template of its
// own.
var builtinPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Status}} {{.Title}}</title></head>
<body><h1>{{.Status}} {{.Title}}</h1><p>{{.Message}}</p><hr><p>cdnnode</p></body></html>
`))

// newErrorPage builds cs's error answers; its template was checked when
// the config loaded, so an error here means the file changed since.
func newErrorPage(cs *config.Site) (errorPage, error) {
	e := errorPage{format: cs.Errors, html: builtinPage}
	if cs.ErrorPage != "" {
		t, err := template.ParseFiles(cs.ErrorPage)
		if err != nil {
			return e, fmt.Errorf("site %q: error page: %w", cs.Name, err)
		}
		e.html = t
	}
	return e, nil
}

// write sends the error answer code with msg.
func (e errorPage) write(w http.ResponseWriter, code int, msg string) {
	f := config.ErrorPageData{Status: code, Title: http.StatusText(code), Message: msg}
	var b bytes.Buffer
	ctype := "text/plain; charset=utf-8"
	switch e.format {
	case "json":
		ctype = "application/json"
		_ = json.NewEncoder(&b).Encode(struct {
			Status  int    `json:"status"`
			Title   string `json:"error"`
			Message string `json:"message"`
		}(f))
	case "html":
		ctype = "text/html; charset=utf-8"
		if err := e.html.Execute(&b, f); err != nil {
			b.Reset()
			_ = builtinPage.Execute(&b, f)
		}
	default:
		b.WriteString(msg + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}
