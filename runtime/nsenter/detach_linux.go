package nsenter

import (
	"errors"
	"io"
	goruntime "runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Detach waits until the command has exec'd (the socket's EOF) or failed
// before that, and then lets it go: the caller does not wait for it, and
// once the caller exits, its subreaper inherits it (an OCI exec --detach).
// A guest that holds a copy of the socket cannot make it wait past the
// command's own exit, nor past timeout.
func (c *Child) Detach(timeout time.Duration) error {
	defer goruntime.UnlockOSThread()
	defer c.replies.close()
	deadline := time.Now().Add(timeout)
	for {
		pfd := []unix.PollFd{{Fd: int32(c.replies.fd), Events: unix.POLLIN}, {Fd: int32(c.pidfd), Events: unix.POLLIN}}
		left := int(time.Until(deadline).Milliseconds())
		if left <= 0 {
			return nil
		}
		if _, err := unix.Poll(pfd, left); errors.Is(err, unix.EINTR) {
			continue
		} else if err != nil {
			return err
		}
		if pfd[0].Revents == 0 {
			// Exited without a word: its status is the subreaper's.
			return nil
		}
		line, err := c.replies.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err == nil {
			err = c.take(line)
		}
		if err != nil {
			return err
		}
	}
}
