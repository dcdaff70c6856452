package cachepolicy

import (
	"net/http"
	"time"
)

// now is the fixed clock of every test.
var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// hdr builds a header from name, value pairs; a name may repeat.
func hdr(kv ...string) http.Header {
	h := make(http.Header)
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// date formats now+d as an HTTP-date.
func date(d time.Duration) string {
	return now.Add(d).Format(http.TimeFormat)
}
