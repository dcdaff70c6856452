package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cdnnode/cdnnode/loadtest"
)

// TestProgressLine: on a terminal each second rewrites one line, which
// done ends; elsewhere each second is a line of its own.
func TestProgressLine(t *testing.T) {
	p1 := loadtest.Progress{Elapsed: time.Second, Total: 2 * time.Second, Rate: 1000, P99: time.Millisecond}
	p2 := loadtest.Progress{Elapsed: 2 * time.Second, Total: 2 * time.Second, Rate: 900, Errors: 3, P99: 2 * time.Millisecond}
	l1, l2 := loadtest.FormatProgress(p1), loadtest.FormatProgress(p2)
	for _, tt := range []struct {
		name string
		tty  bool
		want string
	}{
		{"terminal", true, "\r" + l1 + "\x1b[K\r" + l2 + "\x1b[K\n"},
		{"not a terminal", false, l1 + "\n" + l2 + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			p := &progressLine{w: &b, tty: tt.tty}
			p.show(p1)
			p.show(p2)
			p.done()
			p.done() // once is enough
			if b.String() != tt.want {
				t.Errorf("wrote %q, want %q", b.String(), tt.want)
			}
		})
	}
}

// openPTY opens a pseudo-terminal: the terminal side a program writes to,
// and the side that reads what it wrote.
func openPTY(t *testing.T) (term, reader *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlock pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("pseudo-terminal number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, m
}

// TestIsTerminal: a terminal is one; a pipe, a file and /dev/null (a
// character device, but no terminal) are not.
func TestIsTerminal(t *testing.T) {
	term, _ := openPTY(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(t.TempDir() + "/out")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for _, tt := range []struct {
		name string
		w    io.Writer
		want bool
	}{
		{"terminal", term, true},
		{"pipe", w, false},
		{"file", file, false},
		{"/dev/null", null, false},
		{"buffer", &bytes.Buffer{}, false},
	} {
		if got := isTerminal(tt.w); got != tt.want {
			t.Errorf("isTerminal(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestLoadtestTTYProgress runs the binary with stderr on a terminal: its
// progress is one line rewritten each second, ended before the report.
func TestLoadtestTTYProgress(t *testing.T) {
	term, reader := openPTY(t)
	r := startNode(t)
	var stdout bytes.Buffer
	cmd := execLoadtest(&stdout, term, "-c", "2", "--duration", "2s", "--warmup", "0s", "http://"+r.addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	term.Close() // the command has its own; reading ends when it exits
	out := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(reader) // ends with EIO once no one holds the terminal
		out <- b
	}()
	if err := waitExit(t, cmd, 60*time.Second); err != nil {
		t.Fatalf("loadtest: %v\n%s", err, stdout.String())
	}
	var seen string
	select {
	case b := <-out:
		seen = string(b)
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal was not closed after the command exited")
	}
	t.Logf("terminal: %q", seen)
	// The terminal turns each "\n" into "\r\n".
	live := regexp.MustCompile(`\r +\ds +\S+ req/s +\d+ errors +p99 \S+ +\(\S+ left\)\x1b\[K`)
	if n := len(live.FindAllString(seen, -1)); n != 2 {
		t.Errorf("%d live progress lines, want one per second of 2s", n)
	}
	if strings.Count(seen, "left)\x1b[K\r\n") != 1 || strings.Contains(seen, "left)\r\n") {
		t.Errorf("the live line is not rewritten in place and ended once")
	}
	if !strings.Contains(stdout.String(), "requests ") {
		t.Errorf("no report on stdout:\n%s", stdout.String())
	}
}
