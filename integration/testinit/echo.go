//go:build linux

package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
)

// echoServer serves each PROTO:PORT argument (tcp or udp, on every
// address) until killed: it answers each TCP line and each UDP datagram
// with "ECHO " and what it got, for the network tests' port forwards. It
// prints ECHO-READY once it listens on all of them.
func echoServer(args []string) {
	for _, a := range args {
		proto, port, _ := strings.Cut(a, ":")
		switch proto {
		case "tcp":
			l, err := net.Listen("tcp", ":"+port)
			if err != nil {
				fmt.Fprintf(os.Stderr, "echo-server: %v\n", err)
				os.Exit(2)
			}
			go serveTCP(l)
		case "udp":
			c, err := net.ListenPacket("udp", ":"+port)
			if err != nil {
				fmt.Fprintf(os.Stderr, "echo-server: %v\n", err)
				os.Exit(2)
			}
			go serveUDP(c)
		default:
			fmt.Fprintf(os.Stderr, "echo-server: %q: want tcp:PORT or udp:PORT\n", a)
			os.Exit(2)
		}
	}
	os.Stdout.WriteString("ECHO-READY\n")
	select {}
}

func serveTCP(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			line, err := bufio.NewReader(c).ReadString('\n')
			if err == nil {
				fmt.Fprintf(c, "ECHO %s", line)
			}
		}()
	}
}

func serveUDP(c net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		c.WriteTo(append([]byte("ECHO "), buf[:n]...), from)
	}
}
