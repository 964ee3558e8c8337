package runtime

import (
	"io"
	"sync"
)

// consoleLines keeps the supervisor's log lines apart from the console's
// output where both reach one stream, as a unit's journal or a terminal:
// a log line written after console output that lacks its final newline
// (a login prompt) starts on a line of its own. Without it journald reads
// "vm login: containerctl: foo: halting" as one line of the guest's.
type consoleLines struct {
	mu      sync.Mutex
	out     io.Writer // the stream both share
	newline []byte    // what ends an open console line: "\n", or "\r\n" on a raw terminal
	open    bool      // the console's last byte written was not a newline
}

func newConsoleLines(out io.Writer, newline string) *consoleLines {
	return &consoleLines{out: out, newline: []byte(newline)}
}

// console is the writer of the console's output.
func (c *consoleLines) console() io.Writer { return consoleSide{c} }

// log is the writer of the supervisor's log lines.
func (c *consoleLines) log() io.Writer { return logSide{c} }

type consoleSide struct{ c *consoleLines }

func (w consoleSide) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	n, err := w.c.out.Write(p)
	if n > 0 {
		w.c.open = p[n-1] != '\n'
	}
	return n, err
}

type logSide struct{ c *consoleLines }

func (w logSide) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	if w.c.open {
		if _, err := w.c.out.Write(w.c.newline); err != nil {
			return 0, err
		}
		w.c.open = false
	}
	return w.c.out.Write(p)
}
