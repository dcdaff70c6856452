package worker

import (
	"cmp"
	"net"

	"github.com/cdnnode/cdnnode/h1"
)

// guard wraps an HTTP/1 connection of worker w in the h1 guard: net/http
// reads only requests the strict parser accepted, or, in place of a
// rejected one, a request carrying the rejection and the Group's token,
// which the handler answers (h1.ParseReject). The head may take
// MaxHeaderBytes of fields plus a request line with a target of
// MaxURLBytes. With the fast engine the guard answers what w's responder
// takes itself, under net/http's timeouts.
func (g *Group) guard(w *worker, c net.Conn, overTLS bool) *h1.Guard {
	c1 := g.cfg
	return h1.NewGuard(c, h1.GuardOptions{
		Limits:        h1.Limits{MaxURL: int(c1.MaxURLBytes), MaxFields: c1.MaxHeaderCount},
		MaxHeadBytes:  int(c1.MaxHeaderBytes + c1.MaxURLBytes),
		Token:         g.token,
		Fast:          w.fast,
		TLS:           overTLS,
		IdleTimeout:   cmp.Or(c1.IdleTimeout.D(), c1.ReadTimeout.D()),
		HeaderTimeout: cmp.Or(c1.ReadHeaderTimeout.D(), c1.ReadTimeout.D()),
		WriteTimeout:  c1.WriteTimeout.D(),
		Loop:          w.loop,
	})
}
