/// Python peers for the TLS interop tests: standard library only (`socket`, `ssl`), run with
/// `python3 -c`. Each reports on standard output, one line at a time, flushed at once.
enum PythonPeer {
    /// A verifying TLS client of a line-echo server: `client PORT CAFILE ENDING [VERSION]`.
    ///
    /// It verifies the server against CAFILE as "localhost", prints "version TLSv1.x", sends three
    /// lines through `makefile("rwb")` checking each echo, then ends as ENDING says: "unwrap" sends
    /// close_notify and waits for the server's (`unwrap()`); "close" drops TLS and closes TCP without
    /// close_notify; "reset" skips the lines and aborts the connection (RST, `SO_LINGER` 0).
    /// VERSION ("TLSv1", "TLSv1_1") offers only that old version (`@SECLEVEL=0`). It prints "ok"
    /// and exits 0 on success; a failed handshake prints "handshake failed REASON" and exits 3.
    static let client = #"""
        import socket, ssl, struct, sys
        port, cafile, ending = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        context = ssl.create_default_context(cafile=cafile)
        if len(sys.argv) > 4:
            context.minimum_version = context.maximum_version = getattr(ssl.TLSVersion, sys.argv[4])
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            tls = context.wrap_socket(raw, server_hostname="localhost")
        except ssl.SSLError as error:
            print("handshake failed", error.reason, flush=True)
            sys.exit(3)
        print("version", tls.version(), flush=True)
        if ending == "reset":
            tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            tls.close()
            print("ok", flush=True)
            sys.exit(0)
        file = tls.makefile("rwb")
        for number in range(3):
            line = b"python line %d\n" % number
            file.write(line)
            file.flush()
            echoed = file.readline()
            if echoed != line:
                print("mismatch", echoed, flush=True)
                sys.exit(2)
        file.close()
        if ending == "unwrap":
            tls.unwrap().close()
        else:
            tls.shutdown(socket.SHUT_RDWR)  # drops the SSL object: no close_notify
            tls.close()
        print("ok", flush=True)
        """#

    /// A TLS line-echo server: `server CERTFILE KEYFILE [alpn=P1,P2] [version=TLSv1]`.
    ///
    /// It listens on 127.0.0.1 (a free port) and prints "port N", then serves connections one at a
    /// time: "handshake VERSION ALPN" after each handshake (ALPN "None" when none was agreed),
    /// echoes lines through `makefile("rwb")` until the client's end of stream, then "closed"; a
    /// failed connection prints "failed CLASS REASON" and the server goes on.
    static let server = #"""
        import socket, ssl, sys
        options = dict(argument.split("=", 1) for argument in sys.argv[3:])
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[1], sys.argv[2])
        if "alpn" in options:
            context.set_alpn_protocols(options["alpn"].split(","))
        if "version" in options:
            context.minimum_version = context.maximum_version = getattr(ssl.TLSVersion, options["version"])
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        listener = socket.create_server(("127.0.0.1", 0))
        print("port", listener.getsockname()[1], flush=True)
        while True:
            connection, _ = listener.accept()
            connection.settimeout(10)
            try:
                with context.wrap_socket(connection, server_side=True) as tls:
                    print("handshake", tls.version(), tls.selected_alpn_protocol(), flush=True)
                    file = tls.makefile("rwb")
                    for line in file:
                        file.write(line)
                        file.flush()
                    file.close()
                print("closed", flush=True)
            except OSError as error:
                print("failed", type(error).__name__, getattr(error, "reason", error), flush=True)
        """#
}
