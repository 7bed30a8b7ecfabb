// The article's Go server changed to hold connections: a goroutine per connection with a read loop, and
// SO_REUSEPORT (set through net.ListenConfig.Control) so several processes can share the port when one
// process's fd limit is too small. Standard library only.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
)

// soReuseport is SO_REUSEPORT on Linux; the frozen syscall package does not name it (x/sys/unix does, but
// this program sticks to the standard library).
const soReuseport = 0xf

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go-hold PORT")
		os.Exit(2)
	}
	port := os.Args[1]
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReuseport, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	listener, err := lc.Listen(context.Background(), "tcp", ":"+port)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error listening: %v\n", err)
		os.Exit(1)
	}
	defer listener.Close()
	fmt.Printf("Listening on port %s\n", port)
	for {
		conn, err := listener.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "Error accepting: %v\n", err)
			continue
		}
		go func(c net.Conn) {
			defer c.Close()
			buf := make([]byte, 1024)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}(conn)
	}
}
