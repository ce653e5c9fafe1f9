import Config
import StatesLanguage
import Testing

@Suite struct RepositoryConfigTests {
    static let designExample = """
        version: 1
        workflows:
          deploy:
            definition: workflows/deploy.asl.json
            on:
              gerrit: {labels: {Code-Review: 2, Verified: 1}, branches: [main]}
              phabricator: {status: [accepted]}
              push: {refs: [refs/heads/release/*]}
            input: {environment: staging}      # merged into the trigger event
            report: {vote: Verified}           # Gerrit label voted +1/-1 on the outcome
          commit-policy:
            definition: workflows/policy.asl.yaml
            on:
              pre-receive: {refs: [refs/heads/main]}
            timeout: 5s
        """

    @Test func designExampleLoads() throws {
        let (config, diagnostics) = RepositoryConfigLoader.load(Self.designExample, fileName: ".stepgate/stepgate.yaml")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let c = try #require(config)
        let expected = RepositoryConfig(
            version: 1,
            workflows: [
                WorkflowConfig(
                    name: "deploy", definition: "workflows/deploy.asl.json",
                    triggers: Triggers(
                        gerrit: GerritTrigger(
                            labels: [LabelCondition(label: "Code-Review", value: 2), LabelCondition(label: "Verified", value: 1)],
                            branches: [try RefPattern("main")]),
                        phabricator: PhabricatorTrigger(status: [.accepted]),
                        push: RefTrigger(refs: [try RefPattern("refs/heads/release/*")])),
                    input: JSONObject([("environment", "staging")]),
                    report: ReportConfig(vote: "Verified", comment: true)),
                WorkflowConfig(
                    name: "commit-policy", definition: "workflows/policy.asl.yaml",
                    triggers: Triggers(preReceive: RefTrigger(refs: [try RefPattern("refs/heads/main")])),
                    timeout: .seconds(5)),
            ])
        #expect(c == expected)
        #expect(c.workflows.map(\.name) == ["deploy", "commit-policy"])
        #expect(c.workflow(named: "deploy")?.definitionPath == ".stepgate/workflows/deploy.asl.json")

        let deploy = c.workflows[0]
        #expect(deploy.matchesGerrit(labels: ["Code-Review": 2, "Verified": 1], branch: "main"))
        #expect(deploy.matchesGerrit(labels: ["Code-Review": 2, "Verified": 1], branch: "refs/heads/main"))
        #expect(!deploy.matchesGerrit(labels: ["Code-Review": 1, "Verified": 1], branch: "main"))
        #expect(!deploy.matchesGerrit(labels: ["Code-Review": 2, "Verified": 1], branch: "dev"))
        #expect(deploy.matchesPhabricator(status: .accepted))
        #expect(deploy.matchesPhabricator(status: "accepted"))
        #expect(!deploy.matchesPhabricator(status: "needs-review"))
        #expect(!deploy.matchesPhabricator(status: "bogus"))
        #expect(deploy.matchesPush(ref: "refs/heads/release/1.0"))
        #expect(!deploy.matchesPush(ref: "refs/heads/release/1.0/hotfix"))
        #expect(!deploy.matchesPreReceive(ref: "refs/heads/main"))
        #expect(c.gates(forPreReceive: "refs/heads/main").map(\.name) == ["commit-policy"])
        #expect(c.workflows(forPush: "refs/heads/release/2").map(\.name) == ["deploy"])
        #expect(c.workflows(forPush: "refs/heads/main").isEmpty)
        #expect(c.workflows(forPhabricatorStatus: .accepted).map(\.name) == ["deploy"])
        #expect(c.workflows(forGerritLabels: ["Code-Review": 2, "Verified": 1], branch: "main").map(\.name) == ["deploy"])
    }

    /// Loads `text` and returns its diagnostics as `LINE:COL: severity: message`.
    func problems(_ text: String) -> [String] {
        let (config, diagnostics) = RepositoryConfigLoader.load(text, fileName: "stepgate.yaml")
        if diagnostics.contains(where: { $0.severity == .error }) { #expect(config == nil) }
        return diagnostics.map(\.description)
    }

    static func config(_ workflowBody: String) -> String {
        "version: 1\nworkflows:\n  deploy:\n" + workflowBody.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n") + "\n"
    }

    @Test func unknownKeysSuggestTheClosest() {
        let text = Self.config("""
            defintion: workflows/d.asl.json
            on:
              pre_receive: {refs: [refs/heads/main]}
              gerit: {}
              jenkins: {}
            """)
        #expect(problems(text) == [
            "4:5: error: unknown key 'defintion' in workflow 'deploy'; did you mean 'definition'?",
            "3:3: error: workflow 'deploy' has no 'definition'",
            "6:7: error: unknown key 'pre_receive' in 'on'; did you mean 'pre-receive'?",
            "7:7: error: unknown key 'gerit' in 'on'; did you mean 'gerrit'?",
            "8:7: error: unknown key 'jenkins' in 'on' (expected 'gerrit', 'phabricator', 'push', 'pre-receive')",
        ])
        #expect(problems("version: 1\nworkflow: {}\n") == [
            "2:1: error: unknown key 'workflow' in stepgate.yaml; did you mean 'workflows'?",
            "1:1: error: missing 'workflows'",
        ])
    }

    @Test func versionProblems() {
        #expect(problems("version: 2\nworkflows: {}\n") == ["1:10: error: unsupported version 2; this stepgate reads version 1"])
        #expect(problems("version: \"1\"\nworkflows: {}\n") == ["1:10: error: 'version' must be an integer, found string"])
        #expect(problems("version: true\nworkflows: {}\n") == ["1:10: error: 'version' must be an integer, found boolean"])
        #expect(problems("workflows: {}\n") == ["1:1: error: missing 'version' (write 'version: 1')"])
        #expect(problems("version: 1.0\nworkflows: {}\n").isEmpty)
        #expect(problems("- 1\n") == ["1:1: error: stepgate.yaml must be a mapping with 'version' and 'workflows', found array"])
    }

    @Test func wrongTypes() {
        let text = Self.config("""
            definition: 42
            on:
              gerrit: {labels: {Code-Review: "+2"}, branches: main}
              phabricator: {status: accepted}
              push: [refs/heads/main]
            input: [1]
            report: {vote: 1, comment: "yes"}
            timeout: 5
            """)
        #expect(problems(text) == [
            "4:17: error: 'definition' must be a string, found number",
            "6:38: error: 'Code-Review' must be an integer, found string",
            "6:55: error: 'branches' must be a list, found string",
            "7:29: error: 'status' must be a list, found string",
            "8:13: error: 'push' must be a mapping, found a list",
            "9:12: error: 'input' must be a mapping, found a list",
            "10:20: error: 'vote' must be a string, found number",
            "10:32: error: 'comment' must be a boolean, found string",
            "11:14: error: 'timeout' must be a string, found number",
        ])
    }

    @Test func definitionPathsStayInsideStepgate() {
        func p(_ path: String) -> [String] { problems(Self.config("definition: \(path)\non: {}")) .filter { $0.contains("error") } }
        #expect(p("workflows/deploy.asl.json").isEmpty)
        #expect(p("workflows/team/deploy.asl.yml").isEmpty)
        #expect(p("../secrets.asl.json") == ["4:17: error: a definition path must stay inside .stepgate/ (no '..'): '../secrets.asl.json'"])
        #expect(p("workflows/../../x.asl.json").first?.hasPrefix("4:17: error: a definition path must stay inside .stepgate/") == true)
        #expect(p("/etc/x.asl.json") == ["4:17: error: a definition path is relative to .stepgate/, not absolute: '/etc/x.asl.json'"])
        #expect(p("workflows/deploy.json") == ["4:17: error: a definition must be a file under workflows/ named *.asl.json, *.asl.yaml or *.asl.yml: 'workflows/deploy.json'"])
        #expect(p("deploy.asl.json").count == 1)
        #expect(p("workflows/./deploy.asl.json").count == 1)
        #expect(p("workflows//deploy.asl.json").count == 1)
        #expect(p("workflows/.asl.json").count == 1)
        #expect(p("'workflows\\deploy.asl.json'").count == 1)
    }

    @Test func patternProblems() {
        let text = Self.config("""
            definition: workflows/d.asl.json
            on:
              gerrit: {branches: [main, refs/heads/dev, "rel/**x", main]}
              push: {refs: [heads/main, "refs/heads/a b", refs/tags/**, refs//x, refs/heads/.hidden, 7]}
              pre-receive: {refs: []}
            """)
        #expect(problems(text) == [
            "6:33: error: invalid branch pattern 'refs/heads/dev': branch patterns name branches without 'refs/heads/'",
            "6:49: error: invalid branch pattern 'rel/**x': '**' must be a whole path segment",
            "6:60: error: duplicate branch pattern 'main'",
            "7:21: error: invalid ref pattern 'heads/main': a ref pattern is a full ref name starting with 'refs/' (like refs/heads/main)",
            "7:33: error: invalid ref pattern 'refs/heads/a b': a pattern must not contain spaces or control characters",
            "7:65: error: invalid ref pattern 'refs//x': a pattern must not begin or end with '/' or contain '//'",
            "7:74: error: invalid ref pattern 'refs/heads/.hidden': a path segment must not begin with '.'",
            "7:94: error: a ref pattern must be a string, found number",
            "8:27: error: 'refs' must not be empty",
        ])
    }

    @Test func labelAndStatusProblems() {
        let text = Self.config("""
            definition: workflows/d.asl.json
            on:
              gerrit: {labels: {Code-Review: 0, "bad label": 1, Verified: 1.5}}
              phabricator: {status: [acepted, accepted, accepted, frozen]}
            report: {vote: "Bad Label"}
            """)
        #expect(problems(text) == [
            "6:38: error: label condition 'Code-Review: 0' is ambiguous: use a positive minimum (2 means +2 or higher) or a negative maximum (-1 means -1 or lower)",
            "6:41: error: invalid label name 'bad label': use letters, digits, '_' and '-', starting with a letter or digit",
            "6:67: error: 'Verified' must be an integer, found number",
            "7:30: error: unknown revision status 'acepted'; did you mean 'accepted'?",
            "7:49: error: duplicate revision status 'accepted'",
            "7:59: error: unknown revision status 'frozen' (expected one of needs-review, accepted, changes-planned, needs-revision, published, abandoned, draft)",
            "8:20: error: invalid label name 'Bad Label': use letters, digits, '_' and '-', starting with a letter or digit",
        ])
    }

    @Test func workflowShapeProblems() {
        let text = """
            version: 1
            workflows:
              "bad name": {definition: workflows/a.asl.json}
              ok: workflows/a.asl.json
              quick:
                definition: workflows/q.asl.json
                on: {phabricator: {}, push: {}}
                timeout: 0s
              slow:
                definition: workflows/s.asl.json
                on: {push: {refs: [refs/heads/main]}}
                timeout: 90min
            """
        #expect(problems(text) == [
            "3:3: error: invalid workflow name 'bad name': use letters, digits, '.', '_' and '-', starting with a letter or digit",
            "3:3: warning: workflow 'bad name' has no trigger ('on'); it runs only when started by hand",
            "4:7: error: 'ok' must be a mapping, found string",
            "7:23: error: the phabricator trigger has no 'status'",
            "7:33: error: the push trigger has no 'refs'",
            "8:14: error: invalid timeout '0s': write a positive whole number with a unit, like 500ms, 5s, 2m or 1h",
            "12:14: error: invalid timeout '90min': write a positive whole number with a unit, like 500ms, 5s, 2m or 1h",
        ])
    }

    @Test func warningsDoNotFail() throws {
        let text = Self.config("""
            definition: workflows/d.asl.json
            report: {vote: Verified, comment: false}
            timeout: 1500ms
            """)
        let (config, diagnostics) = RepositoryConfigLoader.load(text)
        #expect(diagnostics.map(\.description) == [
            "3:3: warning: workflow 'deploy' has no trigger ('on'); it runs only when started by hand",
            "5:20: warning: report.vote 'Verified' applies only to Gerrit changes, and workflow 'deploy' has no gerrit trigger",
        ])
        let wf = try #require(config?.workflows.first)
        #expect(wf.triggers.isEmpty)
        #expect(wf.report == ReportConfig(vote: "Verified", comment: false))
        #expect(wf.timeout == .milliseconds(1500))
        #expect(problems(Self.config("definition: workflows/d.asl.json\non: {}")) == [
            "5:5: warning: workflow 'deploy' has no trigger; it runs only when started by hand"
        ])
    }

    @Test func syntaxErrorsBecomeOneDiagnostic() {
        let (config, diagnostics) = RepositoryConfigLoader.load("version: 1\nworkflows:\n  a: {b\n", fileName: ".stepgate/stepgate.yaml")
        #expect(config == nil)
        #expect(diagnostics.count == 1)
        #expect(diagnostics.first?.formatted(file: ".stepgate/stepgate.yaml").hasPrefix(".stepgate/stepgate.yaml:4:1: error: ") == true)
        let dup = RepositoryConfigLoader.load("version: 1\nworkflows: {}\nversion: 1\n").diagnostics
        #expect(dup.map(\.description) == ["3:1: error: duplicate key 'version'"])
    }

    @Test func inputKeepsAnyJSON() throws {
        let text = Self.config("""
            definition: workflows/d.asl.json
            on: {push: {refs: ["refs/**"]}}
            input: {environment: staging, replicas: 3, tags: [a, b], nested: {on: yes, off: ~}}
            """)
        let (config, diagnostics) = RepositoryConfigLoader.load(text)
        #expect(diagnostics.isEmpty)
        let input = try #require(config?.workflows.first?.input)
        #expect(JSON.object(input) == ["environment": "staging", "replicas": 3, "tags": ["a", "b"], "nested": ["on": "yes", "off": nil]])
        #expect(input.keys == ["environment", "replicas", "tags", "nested"])
    }

    @Test func workflowDefinitionFiles() {
        #expect(RepositoryConfigLoader.isWorkflowDefinition(path: ".stepgate/workflows/deploy.asl.json"))
        #expect(RepositoryConfigLoader.isWorkflowDefinition(path: ".stepgate/workflows/deploy.asl.yaml"))
        #expect(RepositoryConfigLoader.isWorkflowDefinition(path: ".stepgate/workflows/team/x.asl.yml"))
        #expect(!RepositoryConfigLoader.isWorkflowDefinition(path: ".stepgate/workflows/deploy.json"))
        #expect(!RepositoryConfigLoader.isWorkflowDefinition(path: ".stepgate/deploy.asl.json"))
        #expect(!RepositoryConfigLoader.isWorkflowDefinition(path: "workflows/deploy.asl.json"))
        #expect(!RepositoryConfigLoader.isWorkflowDefinition(path: "src/.stepgate/workflows/deploy.asl.json"))
        #expect(!RepositoryConfigLoader.isWorkflowDefinition(path: ".stepgate/stepgate.yaml"))
        #expect(!RepositoryConfigLoader.isWorkflowDefinition(path: ".stepgate/workflows/.asl.json"))
        #expect(RepositoryConfigLoader.path == ".stepgate/stepgate.yaml")
    }
}

@Suite struct MatchingTests {
    @Test(arguments: [
        ("refs/heads/main", "refs/heads/main", true),
        ("refs/heads/main", "refs/heads/main2", false),
        ("refs/heads/main", "refs/heads", false),
        ("refs/heads/*", "refs/heads/main", true),
        ("refs/heads/*", "refs/heads/feature/x", false),
        ("refs/heads/*", "refs/tags/v1", false),
        ("refs/heads/release/*", "refs/heads/release/1.0", true),
        ("refs/heads/release/*", "refs/heads/release", false),
        ("refs/heads/release-*", "refs/heads/release-2", true),
        ("refs/heads/release-*", "refs/heads/release-", true),
        ("refs/heads/*-stable", "refs/heads/v1-stable", true),
        ("refs/heads/*-stable", "refs/heads/v1-stable/x", false),
        ("refs/heads/*/*", "refs/heads/a/b", true),
        ("refs/heads/*/*", "refs/heads/a", false),
        ("refs/heads/a*b*c", "refs/heads/aXbYc", true),
        ("refs/heads/a*b*c", "refs/heads/abc", true),
        ("refs/heads/a*b*c", "refs/heads/acb", false),
        ("refs/heads/**", "refs/heads/main", true),
        ("refs/heads/**", "refs/heads/a/b/c", true),
        ("refs/heads/**", "refs/heads", false),
        ("refs/**/main", "refs/main", true),
        ("refs/**/main", "refs/heads/main", true),
        ("refs/**/main", "refs/remotes/origin/main", true),
        ("refs/**/main", "refs/heads/main/x", false),
        ("**/main", "main", true),
        ("**/main", "refs/heads/main", true),
        ("**", "refs/heads/x", true),
        ("refs/**/release/*", "refs/heads/team/release/1", true),
        ("refs/**/release/*", "refs/heads/team/release", false),
        ("main", "main", true),
        ("main", "Main", false),
        ("release/*", "release/1.x", true),
        ("release/**", "release", false),
        ("release/**", "release/a/b", true),
        ("*", "main", true),
        ("*", "feature/x", false),
        ("féature/*", "féature/ü", true),
    ])
    func refPatterns(pattern: String, ref: String, matches: Bool) throws {
        #expect(try RefPattern(pattern).matches(ref) == matches)
    }

    @Test(arguments: [
        "", "/refs/heads/x", "refs/heads/", "refs//heads", "refs/heads/a b", "refs/heads/x~1", "refs/heads/x^",
        "refs/heads/a:b", "refs/heads/?", "refs/heads/[ab]", "refs/heads/a\\b", "refs/heads/../x", "refs/heads/a..b",
        "refs/heads/.x", "refs/heads/***", "refs/heads/a**", "refs/**b/c", "refs/heads/x\n", "refs/heads/\u{7}",
    ])
    func invalidPatterns(pattern: String) {
        #expect(throws: RefPatternError.self) { try RefPattern(pattern) }
    }

    @Test func labelConditions() {
        let cr2 = LabelCondition(label: "Code-Review", value: 2)
        #expect(cr2.isSatisfied(by: 2))
        #expect(!cr2.isSatisfied(by: 1))
        #expect(!cr2.isSatisfied(by: nil))
        let v1 = LabelCondition(label: "Verified", value: 1)
        #expect(v1.isSatisfied(by: 1) && v1.isSatisfied(by: 2) && !v1.isSatisfied(by: 0) && !v1.isSatisfied(by: -1))
        let veto = LabelCondition(label: "Code-Review", value: -2)
        #expect(veto.isSatisfied(by: -2) && !veto.isSatisfied(by: -1) && !veto.isSatisfied(by: 0))
        let minus1 = LabelCondition(label: "Verified", value: -1)
        #expect(minus1.isSatisfied(by: -1) && minus1.isSatisfied(by: -2) && !minus1.isSatisfied(by: 0) && !minus1.isSatisfied(by: 1))

        let any = GerritTrigger()
        #expect(any.matches(labels: [:], branch: "whatever"))
        let t = GerritTrigger(labels: [cr2, minus1], branches: [try! RefPattern("main"), try! RefPattern("release/*")])
        #expect(t.matches(labels: ["Code-Review": 2, "Verified": -1], branch: "main"))
        #expect(t.matches(labels: ["Code-Review": 2, "Verified": -2, "Other": 5], branch: "refs/heads/release/3"))
        #expect(!t.matches(labels: ["Code-Review": 2], branch: "main"))
        #expect(!t.matches(labels: ["Code-Review": 1, "Verified": -1], branch: "main"))
        #expect(!t.matches(labels: ["Code-Review": 2, "Verified": -1], branch: "dev"))
        #expect(!t.matches(labels: ["Code-Review": 2, "Verified": -1], branch: "release/3/x"))

        let wf = WorkflowConfig(name: "x", definition: "workflows/x.asl.json")
        #expect(!wf.matchesGerrit(labels: ["Code-Review": 2], branch: "main"))
        #expect(!wf.matchesPush(ref: "refs/heads/main"))
        #expect(!wf.matchesPreReceive(ref: "refs/heads/main"))
        #expect(!wf.matchesPhabricator(status: .accepted))
    }
}
