import Testing

@Test func placeholderConfig() { #expect(true) }
