import Testing

@Test func placeholderGitTests() { #expect(true) }
