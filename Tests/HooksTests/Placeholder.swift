import Testing

@Test func placeholderHooks() { #expect(true) }
