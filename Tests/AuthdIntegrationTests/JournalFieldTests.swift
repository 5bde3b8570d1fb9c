@testable import AuthdSystemd
import Testing

/// The journal handler's field names and value escaping, which every audit line goes through
/// (the real journal is in ``JournalTests``).
@Suite("Journal fields: names the journal accepts, values that stay one value")
struct JournalFieldTests {
    @Test("metadata keys become upper-case names of A-Z, 0-9 and _, never starting with _ or a digit, at most 64 long")
    func fieldNames() {
        #expect(JournalLogHandler.fieldName("authd.peer_uid") == "AUTHD_PEER_UID")
        #expect(JournalLogHandler.fieldName("authd.op") == "AUTHD_OP")
        #expect(JournalLogHandler.fieldName("Mixed-Case.9") == "MIXED_CASE_9")
        #expect(JournalLogHandler.fieldName("__x") == "X")
        #expect(JournalLogHandler.fieldName("_") == "AUTHD_")
        #expect(JournalLogHandler.fieldName("9lives") == "AUTHD_9LIVES")
        #expect(JournalLogHandler.fieldName("é.x") == "X")
        #expect(JournalLogHandler.fieldName(String(repeating: "a", count: 80)) == String(repeating: "A", count: 64))
        #expect(JournalLogHandler.fieldName("1" + String(repeating: "a", count: 80)) == "AUTHD_1" + String(repeating: "A", count: 57))
    }

    @Test("control characters and the backslash are escaped; everything else, UTF-8 included, is sent as it is")
    func escaping() {
        #expect(JournalLogHandler.escape("alice") == "alice")
        #expect(JournalLogHandler.escape("Zoë ✓ ünïcode") == "Zoë ✓ ünïcode")
        #expect(JournalLogHandler.escape("a\nMESSAGE_ID=bad") == #"a\nMESSAGE_ID=bad"#)
        #expect(JournalLogHandler.escape("tab\there\r") == #"tab\there\r"#)
        #expect(JournalLogHandler.escape(#"back\slash"#) == #"back\\slash"#)
        #expect(JournalLogHandler.escape("\u{01}\u{7F}é") == #"\x01\x7fé"#)
        #expect(JournalLogHandler.escape("") == "")
    }
}
