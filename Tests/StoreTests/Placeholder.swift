import Testing

@Test func placeholderStore() { #expect(true) }
