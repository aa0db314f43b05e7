import COpenSSL

/// A certificate chain and its private key, in PEM form: what a TLS server presents.
///
/// `selfSigned(names:)` makes one in-process with the OpenSSL already linked (EC P-256, SHA-256), so
/// tests and `greenio serve --tls` need no files and no second crypto library.
public struct TLSIdentity: Sendable {
    /// The certificate (first) and any intermediate certificates, PEM-encoded.
    public let certificateChainPEM: String
    /// The private key, PEM-encoded (PKCS#8).
    public let privateKeyPEM: String

    /// Wraps PEM text as it is; it is checked when a context loads it.
    public init(certificateChainPEM: String, privateKeyPEM: String) {
        self.certificateChainPEM = certificateChainPEM
        self.privateKeyPEM = privateKeyPEM
    }

    /// Reads the PEM files (certificate chain, private key).
    /// - Throws: `IOError` `.system` if a file cannot be read.
    public init(certificateChainFile: String, privateKeyFile: String) throws {
        self.init(certificateChainPEM: try readTextFile(certificateChainFile),
                  privateKeyPEM: try readTextFile(privateKeyFile))
    }

    /// The leaf certificate's SHA-256 fingerprint as colon-separated hex ("AB:CD:…").
    /// - Throws: `IOError` `.tls` if the certificate PEM does not parse.
    public func fingerprintSHA256() throws -> String {
        let certificate = try PEM.certificates(certificateChainPEM)
        defer { certificate.forEach { X509_free($0) } }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard let leaf = certificate.first, X509_digest(leaf, EVP_sha256(), &digest, &length) == 1 else {
            throw OpenSSLErrors.error("cannot compute the certificate fingerprint")
        }
        return digest.prefix(Int(length)).map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: ":")
    }

    /// Makes a self-signed identity: an EC P-256 key and a certificate valid for `names` (DNS names
    /// or IP addresses, as subject alternative names) from one day ago for `days` days.
    ///
    /// - Parameters:
    ///   - names: default `["localhost", "127.0.0.1"]`; the first is also the common name.
    ///   - days: how long the certificate is valid, counted from one day ago.
    /// - Throws: `IOError` `.invalidArgument` for an empty or malformed name list; `.tls` if
    ///   OpenSSL fails.
    public static func selfSigned(names: [String] = ["localhost", "127.0.0.1"], days: Int = 365) throws -> TLSIdentity {
        guard let commonName = names.first, names.allSatisfy({ !$0.isEmpty && !$0.contains(",") }) else {
            throw IOError.invalidArgument("a self-signed identity needs at least one name, without commas")
        }
        OpenSSLErrors.clear()
        let key = try generateKey()
        defer { EVP_PKEY_free(key) }
        guard let certificate = X509_new() else { throw OpenSSLErrors.error("X509_new failed") }
        defer { X509_free(certificate) }
        var serial = [UInt8](repeating: 0, count: 16)
        _ = RAND_bytes(&serial, Int32(serial.count))
        serial[0] &= 0x7F
        guard X509_set_version(certificate, 2) == 1,
              let serialNumber = BN_bin2bn(serial, Int32(serial.count), nil) else {
            throw OpenSSLErrors.error("cannot set the certificate serial number")
        }
        defer { BN_free(serialNumber) }
        guard BN_to_ASN1_INTEGER(serialNumber, X509_get_serialNumber(certificate)) != nil,
              X509_gmtime_adj(X509_getm_notBefore(certificate), -86_400) != nil,
              X509_gmtime_adj(X509_getm_notAfter(certificate), 86_400 * days) != nil,
              X509_set_pubkey(certificate, key) == 1,
              let subject = X509_get_subject_name(certificate),
              X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, commonName, -1, -1, 0) == 1,
              X509_set_issuer_name(certificate, subject) == 1 else {
            throw OpenSSLErrors.error("cannot fill in the certificate")
        }
        let alternativeNames = names.map { isIPAddress($0) ? "IP:\($0)" : "DNS:\($0)" }.joined(separator: ",")
        try addExtension(certificate, NID_subject_alt_name, alternativeNames)
        try addExtension(certificate, NID_basic_constraints, "critical,CA:TRUE")
        try addExtension(certificate, NID_key_usage, "critical,digitalSignature,keyCertSign")
        try addExtension(certificate, NID_ext_key_usage, "serverAuth,clientAuth")
        guard X509_sign(certificate, key, EVP_sha256()) > 0 else {
            throw OpenSSLErrors.error("cannot sign the certificate")
        }
        return TLSIdentity(certificateChainPEM: try PEM.text { PEM_write_bio_X509($0, certificate) },
                           privateKeyPEM: try PEM.text {
                               PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil)
                           })
    }

    private static func generateKey() throws -> OpaquePointer {
        guard let context = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nil) else { throw OpenSSLErrors.error("EVP_PKEY_CTX_new_id failed") }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1,
              EVP_PKEY_CTX_set_ec_paramgen_curve_nid(context, NID_X9_62_prime256v1) == 1,
              EVP_PKEY_keygen(context, &key) == 1, let key else {
            throw OpenSSLErrors.error("cannot generate an EC P-256 key")
        }
        return key
    }

    private static func addExtension(_ certificate: OpaquePointer, _ nid: Int32, _ value: String) throws {
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, certificate, certificate, nil, nil, 0)
        guard let extensionValue = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
            throw OpenSSLErrors.error("cannot make the certificate extension \(value)")
        }
        defer { X509_EXTENSION_free(extensionValue) }
        guard X509_add_ext(certificate, extensionValue, -1) == 1 else {
            throw OpenSSLErrors.error("cannot add the certificate extension \(value)")
        }
    }
}

/// True for a numeric IPv4 or IPv6 address.
func isIPAddress(_ text: String) -> Bool {
    (try? SocketAddress(numericHost: text, port: 0)) != nil
}

/// PEM conversions through memory BIOs.
enum PEM {
    /// Runs `write` on a memory BIO and returns what it wrote.
    static func text(_ write: (OpaquePointer) -> Int32) throws -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw OpenSSLErrors.error("BIO_new failed") }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw OpenSSLErrors.error("cannot write PEM") }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = BIO_read(bio, &chunk, Int32(chunk.count))
            if n <= 0 { break }
            result.append(contentsOf: chunk[..<Int(n)])
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// Calls `body` with a read-only memory BIO over `text`.
    static func withBIO<R>(_ text: String, _ body: (OpaquePointer) throws -> R) throws -> R {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else {
                throw OpenSSLErrors.error("BIO_new_mem_buf failed")
            }
            defer { BIO_free(bio) }
            return try body(bio)
        }
    }

    /// Every certificate in `text`, in order (the caller frees them).
    /// - Throws: `IOError` `.tls` if there is none.
    static func certificates(_ text: String) throws -> [OpaquePointer] {
        let found: [OpaquePointer] = try withBIO(text) { bio in
            var result: [OpaquePointer] = []
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) { result.append(certificate) }
            return result
        }
        ERR_clear_error()  // the end of the text shows up as a "no start line" error
        guard !found.isEmpty else { throw IOError(.tls, "no certificate found in the PEM data") }
        return found
    }

    /// The private key in `text` (the caller frees it).
    /// - Throws: `IOError` `.tls` if there is none.
    static func privateKey(_ text: String) throws -> OpaquePointer {
        let key = try withBIO(text) { PEM_read_bio_PrivateKey($0, nil, nil, nil) }
        guard let key else { throw OpenSSLErrors.error("no private key found in the PEM data") }
        return key
    }
}

/// Reads a whole text file (PEM files are small).
/// - Throws: `IOError` `.system` with the file's errno.
func readTextFile(_ path: String) throws -> String {
    guard let file = fopen(path, "rb") else { throw IOError.system(.current) }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n == 0 { break }
        bytes.append(contentsOf: chunk[..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}
