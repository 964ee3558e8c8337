//go:build linux

// Command hunginit is the init of the VM tests' "hung" container: one that
// takes the halt signal (SIGRTMIN+3) and never acts on it, as a stuck
// systemd would, so that the supervisor has to kill it at its stop timeout.
// It has a handler: an init with none cannot be sent the signal at all,
// and the supervisor kills that one at once, without waiting. It tells the supervisor it
// is ready (READY=1 on $NOTIFY_SOCKET, as systemd would), so that the
// unit's Type=notify start returns, then sleeps.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	// A channel never read: the signals are caught and dropped.
	signal.Notify(make(chan os.Signal, 1), syscall.Signal(37), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	fmt.Println("HUNGINIT: ignoring SIGRTMIN+3")
	if s := os.Getenv("NOTIFY_SOCKET"); s != "" {
		if err := notify(s); err != nil {
			fmt.Fprintf(os.Stderr, "hunginit: notify %s: %v\n", s, err)
			os.Exit(1)
		}
	}
	for {
		time.Sleep(time.Hour)
	}
}

func notify(path string) error {
	c, err := net.Dial("unixgram", path)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte("READY=1"))
	return err
}
