// Command minimal is the baseline for bench/peers.sh: a plain net/http server
// that answers every request with the same fixed body of -size bytes. It does
// no caching, routing or header work, so it marks the ceiling a Go HTTP/1.1
// server reaches on this machine; cdnnode's hit throughput is compared to it.
package main

import (
	"bytes"
	"flag"
	"log"
	"net/http"
	"strconv"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18083", "address to listen on")
	size := flag.Int("size", 1024, "body size in bytes")
	flag.Parse()
	if *size < 0 {
		log.Fatalf("minimal: -size must be >= 0, got %d", *size)
	}

	body := bytes.Repeat([]byte("x"), *size)
	length := strconv.Itoa(len(body))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
		hdr.Set("Content-Length", length)
		hdr.Set("Cache-Control", "public, max-age=60")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write(body)
		}
	})

	srv := &http.Server{
		Addr:              *listen,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	log.Fatal(srv.ListenAndServe())
}
