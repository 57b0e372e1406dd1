import Testing
import PGBackupFoundations

@Suite("Civil dates (proleptic Gregorian, UTC)")
struct CivilDateTests {
    @Test func civilDatesRoundTrip() {
        for day in stride(from: -800_000, through: 800_000, by: 997) {
            let (year, month, dayOfMonth) = CivilDate.date(fromDays: day)
            #expect(CivilDate.days(year: year, month: month, day: dayOfMonth) == day)
        }
        #expect(CivilDate.days(year: 1970, month: 1, day: 1) == 0)
        #expect(CivilDate.days(year: 2000, month: 3, day: 1) == 11_017)
    }

    @Test func monthLengthsFollowTheGregorianLeapYears() {
        #expect(CivilDate.daysIn(month: 2, year: 2024) == 29)
        #expect(CivilDate.daysIn(month: 2, year: 2100) == 28)
        #expect(CivilDate.daysIn(month: 2, year: 2000) == 29)
        #expect(CivilDate.daysIn(month: 4, year: 2026) == 30)
        #expect(CivilDate.daysIn(month: 12, year: 2026) == 31)
        #expect(CivilDate.floorDivide(-1, 7) == -1 && CivilDate.floorModulo(-1, 7) == 6)
    }
}
