import Foundation
import ReviewClients
import ReviewFakes
import Testing

@Suite struct GerritTimestampTests {
    @Test func parsesAndFormatsWithNanoseconds() throws {
        let ts = try #require(GerritTimestamp("2024-10-14 11:16:36.775000000"))
        #expect(ts.seconds == 1_728_904_596)
        #expect(ts.nanoseconds == 775_000_000)
        #expect(ts.description == "2024-10-14 11:16:36.775000000")
        #expect(GerritTimestamp("2024-10-14 11:00:00")?.description == "2024-10-14 11:00:00.000000000")
        #expect(GerritTimestamp("2024-10-14 11:00:00.5")?.nanoseconds == 500_000_000)
        #expect(GerritTimestamp("1969-12-31 23:59:59.000000001")?.seconds == -1)
        #expect(GerritTimestamp("yesterday") == nil)
        #expect(GerritTimestamp("2024-13-01 00:00:00") == nil)
    }

    @Test func sortsByTheExactValue() throws {
        let a = try #require(GerritTimestamp("2024-10-14 11:16:36.775000001"))
        let b = try #require(GerritTimestamp("2024-10-14 11:16:36.775000002"))
        #expect(a < b)
        #expect(b.adding(.nanoseconds(-1)) == a)
        #expect(a.adding(.seconds(-30)).description == "2024-10-14 11:16:06.775000001")
        let round = try JSONDecoder().decode(GerritTimestamp.self, from: try JSONEncoder().encode(a))
        #expect(round == a)
    }
}

@Suite struct QueryAndPolicyTests {
    @Test func buildsProjectQueries() throws {
        #expect(GerritQuery.openChanges(projects: ["demo"]) == "project:demo status:open")
        #expect(GerritQuery.openChanges(projects: []) == "status:open")
        #expect(GerritQuery.quote("tools/build") == "tools/build")
        #expect(GerritQuery.quote("a b") == "\"a b\"")
    }

    @Test func backoffIsCappedExponentialWithFullJitter() {
        let upper = RetryPolicy(baseDelay: .milliseconds(100), maxDelay: .seconds(1), random: { $0 })
        #expect(upper.backoff(afterAttempt: 1) == .milliseconds(100))
        #expect(upper.backoff(afterAttempt: 3) == .milliseconds(400))
        #expect(upper.backoff(afterAttempt: 10) == .seconds(1))
        let lower = RetryPolicy(baseDelay: .milliseconds(100), random: { _ in 0 })
        #expect(lower.backoff(afterAttempt: 5) == .zero)
        let real = RetryPolicy(baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        for attempt in 1...8 {
            let delay = real.backoff(afterAttempt: attempt)
            #expect(delay >= .zero && delay <= .seconds(1))
        }
        #expect(RetryPolicy.none.maxAttempts == 1)
    }

    @Test func errorsCompareByKindAndDescribeThemselves() {
        let error = ReviewClientError.conduit("ERR-INVALID-SESSION", "Session key is not present.")
        #expect(error == .invalidSession)
        #expect(error.isInvalidSession)
        #expect(error != .invalidAuth)
        #expect(ReviewClientError.notFound != .conflict)
        #expect("\(error)".contains("Session key is not present."))
        #expect(ReviewClientError.rateLimited.shortDescription == "rate-limited")
        let matched: Bool
        switch error as any Error {
        case ReviewClientError.invalidSession: matched = true
        default: matched = false
        }
        #expect(matched)
    }
}
