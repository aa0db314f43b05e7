// nio-echo: the SwiftNIO peer of `greenio serve` — a line-echo server on one event loop.
// Every line (LineBasedFrameDecoder strips the terminator) is written back with "\n"; the writes of a
// read batch are flushed once, in channelReadComplete.
//
//   nio-echo [--host 127.0.0.1] [--port 7879] [--tls --cert CERT.pem --key KEY.pem]
//
// Prints "listening on HOST:PORT" once ready; SIGINT/SIGTERM stop it.
import NIOCore
import NIOExtras
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

final class LineEcho: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var pending = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var line = unwrapInboundIn(data)
        line.writeInteger(UInt8(ascii: "\n"))
        context.write(wrapOutboundOut(line), promise: nil)
        pending = true
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if pending {
            pending = false
            context.flush()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

func usage() -> Never {
    fputs("usage: nio-echo [--host H] [--port P] [--tls --cert CERT.pem --key KEY.pem]\n", stderr)
    exit(2)
}

var host = "127.0.0.1"
var port = 7879
var tls = false
var certPath: String?
var keyPath: String?
var arguments = CommandLine.arguments.dropFirst().makeIterator()
func value() -> String {
    guard let next = arguments.next() else { usage() }
    return next
}
while let argument = arguments.next() {
    switch argument {
    case "--host": host = value()
    case "--port":
        guard let number = Int(value()) else { usage() }
        port = number
    case "--tls": tls = true
    case "--cert": certPath = value()
    case "--key": keyPath = value()
    default: usage()
    }
}

var sslContext: NIOSSLContext?
if tls {
    guard let certPath, let keyPath else { usage() }
    var configuration = TLSConfiguration.makeServerConfiguration(
        certificateChain: try NIOSSLCertificate.fromPEMFile(certPath).map { .certificate($0) },
        privateKey: .file(keyPath))
    configuration.minimumTLSVersion = .tlsv13
    configuration.maximumTLSVersion = .tlsv13
    // BoringSSL (inside NIOSSL) does not let TLS 1.3 suites be configured; it picks
    // TLS_AES_128_GCM_SHA256 on AES-capable hardware when the client offers it first, as greenio bench does.
    sslContext = try NIOSSLContext(configuration: configuration)
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let bootstrap = ServerBootstrap(group: group)
    .serverChannelOption(ChannelOptions.backlog, value: 1024)
    .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
    .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            if let sslContext {
                try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
            }
            try channel.pipeline.syncOperations.addHandler(
                ByteToMessageHandler(LineBasedFrameDecoder(), maximumBufferSize: 1 << 20))
            try channel.pipeline.syncOperations.addHandler(LineEcho())
        }
    }

let channel = try bootstrap.bind(host: host, port: port).wait()
print("listening on \(host):\(channel.localAddress?.port ?? port)")
fflush(stdout)

// SIGINT/SIGTERM keep their default action (terminate): nothing needs flushing.
try channel.closeFuture.wait()
