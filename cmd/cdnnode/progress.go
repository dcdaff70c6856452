package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/cdnnode/cdnnode/loadtest"
)

// progressLine shows a load test's progress once a second: on a terminal
// one live line, rewritten in place; otherwise a line each, as logs and
// CI want. show runs on the load test's collector goroutine, done after
// the run returns, so the fields need no lock.
type progressLine struct {
	w    io.Writer
	tty  bool
	live bool // a live line is showing: done ends it
}

func newProgressLine(w io.Writer) *progressLine {
	return &progressLine{w: w, tty: isTerminal(w)}
}

// show is Options.Progress.
func (p *progressLine) show(pr loadtest.Progress) {
	line := loadtest.FormatProgress(pr)
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	// Back to the start of the line, the new figures, then clear what a
	// longer previous line left.
	fmt.Fprintf(p.w, "\r%s\x1b[K", line)
	p.live = true
}

// done ends the live line, so that what follows starts on its own.
func (p *progressLine) done() {
	if p.live {
		fmt.Fprintln(p.w)
		p.live = false
	}
}

// isTerminal reports whether w is a terminal: a file whose terminal
// settings can be read.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
