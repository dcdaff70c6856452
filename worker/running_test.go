package worker

import "testing"

// TestRunning: close's channel is closed once no handler runs, at once
// when none does, and handlers that would begin after close are refused
// without reopening it.
func TestRunning(t *testing.T) {
	isDone := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
	idle := newRunning()
	if !isDone(idle.close()) {
		t.Error("close with no handler running: not done")
	}
	if idle.begin() {
		t.Error("begin after close succeeded")
	}
	if !isDone(idle.close()) {
		t.Error("a second close: not done")
	}

	r := newRunning()
	if !r.begin() || !r.begin() {
		t.Fatal("begin refused before close")
	}
	done := r.close()
	r.end()
	if isDone(done) {
		t.Error("done with one handler still running")
	}
	if r.begin() {
		t.Error("begin after close succeeded")
	}
	if isDone(done) {
		t.Error("done with one handler still running, after a refused begin")
	}
	r.end()
	if !isDone(done) {
		t.Error("not done when the last handler ended")
	}
}
