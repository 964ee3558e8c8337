package runtime

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/containerd/console"
)

// ttyRelay copies between an exec'd command's terminal and ours: our
// terminal in raw mode, so that ^C and the like go through to the command's
// foreground process group, and its window size passed on.
type ttyRelay struct {
	master console.Console
	term   console.Console // ours, when stdin is a terminal
	out    chan struct{}   // closed once the output is copied
}

func relayTTY(master, stdin, stdout *os.File) (*ttyRelay, error) {
	m, err := console.ConsoleFromFile(master)
	if err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	r := &ttyRelay{master: m, out: make(chan struct{})}
	if t, err := console.ConsoleFromFile(stdin); err == nil {
		if err := t.SetRaw(); err != nil {
			return nil, fmt.Errorf("set the terminal to raw mode: %w", err)
		}
		r.term = t
		r.resize()
	}
	// Input is copied until we exit: a read of our stdin cannot be
	// interrupted.
	go func() { _, _ = io.Copy(m, stdin) }()
	go func() {
		// Ends with EIO once the last slave is closed.
		_, _ = io.Copy(stdout, m)
		close(r.out)
	}()
	return r, nil
}

func (r *ttyRelay) resize() {
	if r.term == nil {
		return
	}
	if ws, err := r.term.Size(); err == nil {
		_ = r.master.Resize(ws)
	}
}

// stop waits for the output to be copied (a while: a process the command
// left behind may hold the terminal), and gives our terminal back.
func (r *ttyRelay) stop() {
	select {
	case <-r.out:
	case <-time.After(time.Second):
	}
	if r.term != nil {
		_ = r.term.Reset()
	}
	_ = r.master.Close()
}
