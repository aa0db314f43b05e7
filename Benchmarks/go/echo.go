// echo.go: the Go peer of the side-by-side benchmark (issue 18) — Go's idiomatic line-echo server, the
// design closest to GreenIO's: one goroutine (a green thread) per connection over the runtime's epoll
// poller, blocking-style code, a buffered reader lending each line in place, plain or TLS 1.3
// (crypto/tls). Standard library only.
//
//	go build -o echo .                 (in Benchmarks/go; Debian 12: apt-get install golang-go, Go 1.19)
//	./echo [-p PORT] [--max-line BYTES] [--tls CERT.pem KEY.pem]
//
// Listens on 127.0.0.1 (TCP_NODELAY on each connection: Go's default). Each connection reads with
// bufio.Reader.ReadSlice('\n') from an 8 KiB buffer (a line longer than the buffer is gathered into a
// per-connection slice) and writes each line to an 8 KiB bufio.Writer, flushed once no further complete
// line is buffered: one write per batch of pipelined lines, as the C reference and greenio serve send.
// Like the C reference, a connection whose incomplete line grows past --max-line (default 1 MiB) is closed.
// A final unterminated line is echoed at the end of the stream. GOMAXPROCS comes from the environment
// (the runtime reads it). Prints "listening on 127.0.0.1:PORT" once ready; nothing per connection.
//
// TLS: TLS 1.3 only, the certificate chain and key from the PEM files. Go offers no way to choose TLS
// 1.3 suites; its server takes TLS_AES_128_GCM_SHA256 when the client lists an AES-GCM suite first and
// the CPU has AES-GCM instructions (otherwise it prefers ChaCha20-Poly1305). So that a benchmark cannot
// measure another suite unnoticed, a connection that negotiated any other suite is closed after its
// handshake (its client sees an error) and the first such connection is reported on standard error;
// --any-suite serves it instead.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

const bufferSize = 8192

var (
	maxLine      = 1 << 20 // the longest incomplete line a connection may send, as the C reference's MAXLINE
	anySuite     = false
	reportSuite  sync.Once
	errLineLimit = errors.New("line longer than --max-line")
)

func usage() {
	fmt.Fprintf(os.Stderr, "usage: %s [-p PORT] [--max-line BYTES] [--any-suite] [--tls CERT.pem KEY.pem]\n", os.Args[0])
	os.Exit(2)
}

func main() {
	port := 7881
	var cert, key string
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		var err error
		switch {
		case args[i] == "-p" && i+1 < len(args):
			i++
			port, err = strconv.Atoi(args[i])
		case args[i] == "--max-line" && i+1 < len(args):
			i++
			maxLine, err = strconv.Atoi(args[i])
			if err == nil && maxLine < 1 {
				err = errors.New("must be at least 1")
			}
		case args[i] == "--any-suite":
			anySuite = true
		case args[i] == "--tls" && i+2 < len(args):
			cert, key = args[i+1], args[i+2]
			i += 2
		default:
			usage()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", args[i], err)
			usage()
		}
	}

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS13})
	}
	fmt.Printf("listening on %s\n", ln.Addr())

	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(5 * time.Millisecond) // e.g. out of descriptors for a moment, as net/http backs off
			continue
		}
		go serve(conn)
	}
}

// serve echoes conn's lines until the end of the stream or an error, then closes it.
func serve(conn net.Conn) {
	defer conn.Close()
	if tc, ok := conn.(*tls.Conn); ok && !suiteAccepted(tc) {
		return
	}
	r := bufio.NewReaderSize(conn, bufferSize)
	w := bufio.NewWriterSize(conn, bufferSize)
	var long []byte // a line longer than the reader's buffer, gathered
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull {
				if len(long) > maxLine {
					return
				}
				line, err = r.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(line) > 0 {
			if _, werr := w.Write(line); werr != nil {
				return
			}
		}
		if err != nil { // the end of the stream (a final unterminated line was echoed above) or an error
			if err == io.EOF {
				w.Flush()
			}
			return
		}
		// One write per batch: flush once no further complete line is buffered (for a pipelining client
		// that sends whole batches, once the reader has nothing buffered).
		if n := r.Buffered(); n == 0 || !completeLineBuffered(r, n) {
			if w.Flush() != nil {
				return
			}
		}
	}
}

// completeLineBuffered tells whether the n bytes buffered in r hold a '\n' (Peek within Buffered() does
// no I/O).
func completeLineBuffered(r *bufio.Reader, n int) bool {
	buffered, _ := r.Peek(n)
	return bytes.IndexByte(buffered, '\n') >= 0
}

// suiteAccepted runs the handshake and tells whether conn may be served: unless --any-suite, only with
// TLS_AES_128_GCM_SHA256, the suite every server of the side-by-side benchmark uses.
func suiteAccepted(conn *tls.Conn) bool {
	if conn.Handshake() != nil {
		return false
	}
	suite := conn.ConnectionState().CipherSuite
	if anySuite || suite == tls.TLS_AES_128_GCM_SHA256 {
		return true
	}
	reportSuite.Do(func() {
		fmt.Fprintf(os.Stderr, "closing connections that negotiated %s, not TLS_AES_128_GCM_SHA256 (--any-suite serves them)\n",
			tls.CipherSuiteName(suite))
	})
	return false
}
