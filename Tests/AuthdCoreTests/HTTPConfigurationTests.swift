@testable import AuthdCore
import Testing

@Suite("The [http] table")
struct HTTPConfigurationTests {
    static func refusal(_ body: String) -> String { FleetConfigurationTests.refusal(body, table: "http") }

    @Test("off by default; Unix paths and loopback TCP addresses are taken")
    func addresses() throws {
        #expect(try AuthdConfiguration(toml: "").http.listen.isEmpty)
        let http = try AuthdConfiguration(
            toml: #"[http]\#nlisten = ["unix:/run/authd/http.sock", "127.0.0.1:9180", "[::1]:9181", "127.0.0.53:80"]"#).http
        #expect(
            http.listen == [
                .unixSocket(path: "/run/authd/http.sock"), .tcp(host: "127.0.0.1", port: 9180), .tcp(host: "::1", port: 9181),
                .tcp(host: "127.0.0.53", port: 80),
            ])
        #expect(http.listen.map(\.description) == ["unix:/run/authd/http.sock", "127.0.0.1:9180", "[::1]:9181", "127.0.0.53:80"])
        #expect(http.socketMode == 0o660 && http.maximumHeaderBytes == 16_384 && http.maximumBodyBytes == 16_384)
    }

    @Test("anything but a loopback address or an absolute Unix path is refused, and named")
    func refusals() {
        for address in ["0.0.0.0:9180", "10.0.0.5:9180", "[::]:9180", "localhost:9180", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000",
                        "unix:relative.sock", "127.1:80", "127.0.0.01:80", "http://127.0.0.1:9180"] {
            let message = Self.refusal(#"listen = ["\#(address)"]"#)
            #expect(message.contains("http.listen") && message.contains(address), "\(address): \(message)")
        }
        #expect(Self.refusal(#"socket_mode = "0777""#).contains("http.socket_mode"))
        #expect(Self.refusal("max_header_bytes = 10").contains("http.max_header_bytes"))
        #expect(Self.refusal("listn = []").contains("unknown key 'http.listn'"))
    }
}
