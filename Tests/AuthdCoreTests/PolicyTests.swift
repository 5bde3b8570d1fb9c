@testable import AuthdCore
import AuthdProtocol
import Testing

@Suite("Caller policy")
struct PolicyTests {
    let nobody = Caller(uid: 65534, gid: 65534, pid: 1)

    func code(_ body: () throws(AuthdError) -> Void) -> AuthdError.Code? {
        do {
            try body()
            return nil
        } catch {
            return error.code
        }
    }

    @Test("defaults: root holds every grant; nobody else holds any")
    func defaults() {
        let policy = Policy()
        let root = Caller(uid: 0, gid: 0, pid: 1)
        for op in ["issue", "revoke", "admin"] {
            #expect(code { () throws(AuthdError) in try policy.authorize(op, grant: op, caller: root) } == nil)
            #expect(code { () throws(AuthdError) in try policy.authorize(op, grant: op, caller: nobody) } == .permissionDenied)
        }
        #expect(code { () throws(AuthdError) in try policy.authorizeIssue(IssueRequest(subject: "a", roles: ["admin"]), caller: root) } == nil)
    }

    @Test("a group grant with a role ceiling, a subject pattern and an audience list")
    func grantLimits() {
        let policy = Policy(grants: [
            .init(principal: .gid(4000), ops: ["issue"], roles: ["reader", "writer"], subjects: ["svc-*", "bob"], audiences: ["api"])
        ])
        let member = Caller(uid: 1000, gid: 1000, pid: 1, groups: [4000])
        func issue(_ request: IssueRequest, as caller: Caller) -> AuthdError.Code? {
            code { () throws(AuthdError) in try policy.authorizeIssue(request, caller: caller) }
        }
        #expect(issue(IssueRequest(subject: "svc-a", roles: ["reader"], audience: ["api"]), as: member) == nil)
        #expect(issue(IssueRequest(subject: "bob", roles: [], audience: ["api"]), as: member) == nil)
        #expect(issue(IssueRequest(subject: "svc-a", roles: ["admin"], audience: ["api"]), as: member) == .permissionDenied)
        #expect(issue(IssueRequest(subject: "alice", roles: ["reader"], audience: ["api"]), as: member) == .permissionDenied)
        #expect(issue(IssueRequest(subject: "svc-a", roles: ["reader"], audience: ["other"]), as: member) == .permissionDenied)
        #expect(issue(IssueRequest(subject: "svc-a", roles: ["reader"]), as: member) == .permissionDenied, "the default audience is not in the list")
        #expect(issue(IssueRequest(subject: "svc-a", roles: ["reader"], audience: ["api"]), as: nobody) == .permissionDenied)
        #expect(code { () throws(AuthdError) in try policy.authorize("revoke", grant: "revoke", caller: member) } == .permissionDenied)
        #expect(code { () throws(AuthdError) in try policy.authorize("issue", grant: "issue", caller: member) } == nil)
    }

    @Test("supplementary groups are looked up only when a group grant could decide")
    func lazyGroups() {
        let byGroup = Policy(grants: [.init(principal: .gid(4000), ops: ["issue"])])
        let byUID = Policy(grants: [.init(principal: .uid(1000), ops: ["issue"])])
        #expect(byGroup.needsGroups(of: nobody))
        #expect(!byGroup.needsGroups(of: Caller(uid: 0, gid: 0, pid: 1)))
        #expect(!byUID.needsGroups(of: nobody))
        #expect(!Policy().needsGroups(of: nobody))
        // root's groups from the user database include its primary group, and keep the caller's own.
        let root = Caller(uid: 0, gid: 0, pid: 1).withSupplementaryGroups()
        #expect(root.groups.contains(0))
        #expect(root.uid == 0 && root.pid == 1)
    }

    @Test("grants from the configuration file: uid, user and group; errors name the key")
    func configuration() throws {
        let configuration = try AuthdConfiguration(
            toml: """
                [[policy.grant]]
                uid = 1000
                ops = ["issue", "revoke"]
                roles = ["user"]

                [[policy.grant]]
                group = "root"
                ops = ["*"]

                [[policy.grant]]
                user = "nobody"
                ops = ["issue"]
                subjects = ["svc-*"]
                """)
        #expect(configuration.policy.grants.count == 3)
        #expect(configuration.policy.grants[0] == .init(principal: .uid(1000), ops: ["issue", "revoke"], roles: ["user"]))
        #expect(configuration.policy.grants[1].principal == .gid(0))
        #expect(configuration.policy.grants[2].principal == .uid(65534))
        for (text, key) in [
            ("[[policy.grant]]\nuid = 1\nops = [\"frobnicate\"]", "policy.grant[0].ops"),
            ("[[policy.grant]]\ngroup = \"no-such-group-here\"\nops = [\"issue\"]", "policy.grant[0].group"),
            ("[[policy.grant]]\nuser = \"no-such-user-here\"\nops = [\"issue\"]", "policy.grant[0].user"),
            ("[[policy.grant]]\nuid = 1\nuser = \"root\"\nops = [\"issue\"]", "policy.grant[0].uid"),
            ("[[policy.grant]]\nuid = 1", "policy.grant[0].ops"),
            ("[[policy.grant]]\nuid = 1\nops = [\"issue\"]\nrole = [\"x\"]", "policy.grant[0].role"),
            ("[server]\nsocket_mode = \"0777\"", "server.socket_mode"),
        ] {
            let error = #expect(throws: StartupError.self) { try AuthdConfiguration(toml: text) }
            #expect(error?.message.contains(key) == true, "\(error?.message ?? "")")
        }
    }
}
