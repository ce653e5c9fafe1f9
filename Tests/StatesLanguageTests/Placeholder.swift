import Testing

@Test func placeholderStatesLanguageTests() { #expect(true) }
