// Package admin owns the operator's HTTP interface: metrics, health,
// profiling, the purge API and the origin pools' peers, served on the admin
// listener (loopback by default), never on the traffic listeners.
package admin

import (
	"net/http"
	"net/http/pprof"
)

// Handler serves /metrics (metricsHandler), POST /purge (purgeHandler,
// which authorises on its own), GET and PUT /pools/{name}/peers
// (poolsHandler, which authorises changes on its own), /healthz and
// /debug/pprof/.
func Handler(metricsHandler, purgeHandler, poolsHandler http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler)
	mux.Handle("POST /purge", purgeHandler)
	mux.Handle("/pools/", poolsHandler)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
