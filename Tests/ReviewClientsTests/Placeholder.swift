import Testing

@Test func placeholderReviewClients() { #expect(true) }
