package worker

import (
	"net"

	"github.com/cdnnode/cdnnode/h1"
)

// guard wraps an HTTP/1 connection in the h1 guard: net/http reads only
// requests the strict parser accepted, or, in place of a rejected one, a
// request carrying the rejection and the Group's token, which the handler
// answers (h1.ParseReject). The head may take MaxHeaderBytes of fields
// plus a request line with a target of MaxURLBytes.
func (g *Group) guard(c net.Conn) net.Conn {
	return h1.NewGuard(c, h1.GuardOptions{
		Limits:       h1.Limits{MaxURL: int(g.cfg.MaxURLBytes), MaxFields: g.cfg.MaxHeaderCount},
		MaxHeadBytes: int(g.cfg.MaxHeaderBytes + g.cfg.MaxURLBytes),
		Token:        g.token,
	})
}
