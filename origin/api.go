package origin

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/cdnnode/cdnnode/config"
)

// maxPeersBody bounds a PUT /pools/{name}/peers body.
const maxPeersBody = 1 << 20

// PeerSpec is one peer as the admin API takes it.
type PeerSpec struct {
	Addr   string `json:"addr"`             // as a peers entry: "host:port", "https://host:port", "unix:/path"
	Weight int    `json:"weight,omitempty"` // 1-1000; default 1
	Backup bool   `json:"backup,omitempty"`
}

// PeerState is one peer as the admin API shows it.
type PeerState struct {
	Peer     string `json:"peer"`
	Weight   int    `json:"weight"`
	Backup   bool   `json:"backup,omitempty"`
	Up       bool   `json:"up"`
	InFlight int64  `json:"in_flight"`
}

// PeersAPI serves the admin listener's GET and PUT /pools/{name}/peers:
// the pool's peers with their health and requests in flight, and their
// replacement at run time (a JSON {"peers": [PeerSpec...]}; applied as
// SetPeers does, until the next change of the pool's peers file or a
// restart). authorize answers the request itself and returns false when
// the client may not change peers.
func PeersAPI(pools map[string]*Pool, authorize func(http.ResponseWriter, *http.Request) bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pools/{name}/peers", func(w http.ResponseWriter, r *http.Request) {
		p, ok := pools[r.PathValue("name")]
		if !ok {
			apiError(w, http.StatusNotFound, "no pool "+r.PathValue("name"))
			return
		}
		answer(w, http.StatusOK, p.Peers())
	})
	mux.HandleFunc("PUT /pools/{name}/peers", func(w http.ResponseWriter, r *http.Request) {
		if !authorize(w, r) {
			return
		}
		p, ok := pools[r.PathValue("name")]
		if !ok {
			apiError(w, http.StatusNotFound, "no pool "+r.PathValue("name"))
			return
		}
		var body struct {
			Peers []PeerSpec `json:"peers"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPeersBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			apiError(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
		list, err := p.parseSpecs(body.Peers)
		if err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := p.SetPeers(list); err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		p.log.Info("origin peers set through the admin API", "remote", r.RemoteAddr, "peers", len(list))
		answer(w, http.StatusOK, p.Peers())
	})
	return mux
}

// parseSpecs checks specs as the config checks a pool's peers.
func (p *Pool) parseSpecs(specs []PeerSpec) ([]config.Peer, error) {
	if len(specs) == 0 {
		return nil, fmt.Errorf("a pool needs at least one peer")
	}
	list := make([]config.Peer, len(specs))
	for i, s := range specs {
		pe, err := config.ParsePeer(s.Addr, p.cfg.Scheme)
		if err != nil {
			return nil, fmt.Errorf("peers[%d]: %w", i, err)
		}
		if s.Weight < 0 || s.Weight > 1000 {
			return nil, fmt.Errorf("peers[%d]: weight %d out of range: want 1 to 1000", i, s.Weight)
		}
		pe.Weight, pe.Backup = max(s.Weight, 1), s.Backup
		list[i] = pe
	}
	return list, nil
}

// Peers are the pool's current peers with their state.
func (p *Pool) Peers() []PeerState {
	s := p.set.Load()
	out := make([]PeerState, len(s.peers))
	for i, pr := range s.peers {
		bp := s.bal.Peer(i)
		out[i] = PeerState{Peer: pr.name, Weight: bp.Weight, Backup: bp.Backup, Up: s.mon.Healthy(i), InFlight: s.bal.Inflight(i)}
	}
	return out
}

// answer writes v as JSON with code.
func answer(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// apiError answers with {"error": msg}.
func apiError(w http.ResponseWriter, code int, msg string) {
	answer(w, code, struct {
		Error string `json:"error"`
	}{msg})
}
