package pgcopy

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

// isoDate writes y-m-d as the server reads it, and the era to write last.
func isoDate(tm time.Time) (string, string) {
	y := tm.Year()
	era := ""
	if y <= 0 {
		y, era = 1-y, " BC"
	}
	return fmt.Sprintf("%04d-%02d-%02d", y, tm.Month(), tm.Day()), era
}

func FuzzDate(f *testing.F) {
	s := newServer(f)
	for _, seed := range []int32{0, 10957, -1, -719162, 2932896, -2440588, -2440589, 2147483647, -2147483648, -2147483648 + 10957, 2147483647 - 1 - 2451545} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, days int32) {
		field, encErr := encodeValue(t, OIDDate, arrow.FixedWidthTypes.Date32, int64(days))
		date, era := isoDate(time.Unix(int64(days)*86400, 0).UTC())
		text := date + era
		want, parseErr := s.parse(t, "date", text)
		s.check(t, fmt.Sprintf("date %d (%s)", days, text), OIDDate, field, encErr, want, parseErr)
	})
}

func FuzzTimestamp(f *testing.F) {
	s := newServer(f)
	for _, seed := range []int64{0, 946684800000000, -1, 1, 253402300799999999, -62135596800000000, -62135596800000001, -210866803200000000,
		-210866803200000001, 9224318016000000000 - 946684800000000 - 1, math.MaxInt64, math.MinInt64, math.MinInt64 + 946684800000000} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, us int64) {
		for _, c := range []struct {
			typ string
			oid uint32
			tz  string // a timestamp with time zone is an instant; one without is read in the session's TimeZone
		}{{"timestamp", OIDTimestamp, ""}, {"timestamp", OIDTimestamp, "UTC"}, {"timestamptz", OIDTimestamptz, "UTC"}} {
			field, encErr := encodeValue(t, c.oid, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: c.tz}, us)
			tm := time.UnixMicro(us).UTC()
			date, era := isoDate(tm)
			text := fmt.Sprintf("%s %02d:%02d:%02d.%06d+00%s", date, tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond()/1000, era)
			want, parseErr := s.parse(t, c.typ, text)
			s.check(t, fmt.Sprintf("%s %d (%s)", c.typ, us, text), c.oid, field, encErr, want, parseErr)
		}
	})
}

// zones whose rules are old and settled: the server's and Go's databases
// agree on them.
var zones = []string{"UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham",
	"Asia/Kathmandu", "Europe/London", "America/St_Johns", "Africa/Monrovia"}

func FuzzZonedTimestamp(f *testing.F) {
	s := newServer(f)
	for _, seed := range []int64{0, 946684800000000, 1711846800000000, 1711846799999999, 1730595600000000, -2524521600000000, -62135596800000001,
		-210866803200000000, 253402300799999999, 9223371331199999999, math.MaxInt64, math.MinInt64} {
		f.Add(seed, uint8(0))
		f.Add(seed, uint8(1))
	}
	f.Add(int64(1262304000000000), uint8(5))
	f.Add(int64(-1577923200000000), uint8(9))
	f.Add(int64(-210866803200000051), uint8(4)) // an instant before TIMESTAMPTZ's range, a wall-clock time within TIMESTAMP's
	f.Fuzz(func(t *testing.T, us int64, z uint8) {
		zone := zones[int(z)%len(zones)]
		rec := oneColumn(t, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: zone}, func(b array.Builder) { appendValue(t, b, us) })
		tm := time.UnixMicro(us).UTC()
		date, era := isoDate(tm)
		instant := fmt.Sprintf("%s %02d:%02d:%02d.%06d+00%s", date, tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond()/1000, era)
		what := fmt.Sprintf("%d (%s) in %s", us, instant, zone)
		want, wantErr := s.expr(t, "SELECT $1::text::timestamptz::text", instant)
		s.checkRec(t, "timestamptz "+what, col(OIDTimestamptz, "timestamptz"), rec, "timestamptz", want, wantErr)
		if wantErr != nil {
			return // no instant to read the wall-clock time of here; it may be in TIMESTAMP's range
		}
		// Upstream's text of an aware datetime: the server drops its offset.
		want, wantErr = s.expr(t, "SELECT ($1::text::timestamptz AT TIME ZONE $2::text)::text", instant, zone)
		s.checkRec(t, "timestamp "+what, col(OIDTimestamp, "timestamp"), rec, "timestamp", want, wantErr)
		want, wantErr = s.expr(t, "SELECT ($1::text::timestamptz AT TIME ZONE $2::text)::date::text", instant, zone)
		s.checkRec(t, "date "+what, col(OIDDate, "date"), rec, "date", want, wantErr)
	})
}

// pyClock is Python's str() of a time of day: H:MM:SS for a timedelta
// (hours unpadded) or HH:MM:SS for a time, then .ffffff unless zero.
func pyClock(us int64, padHours bool) string {
	sec := us / 1000000
	h := fmt.Sprint(sec / 3600)
	if padHours {
		h = fmt.Sprintf("%02d", sec/3600)
	}
	out := fmt.Sprintf("%s:%02d:%02d", h, sec/60%60, sec%60)
	if us%1000000 != 0 {
		out += fmt.Sprintf(".%06d", us%1000000)
	}
	return out
}

func FuzzTime(f *testing.F) {
	s := newServer(f)
	for _, seed := range []int64{0, 1, 999999, 1000000, 3661000001, 86399999999, 86400000000, 86400000001, -1, math.MaxInt64, math.MinInt64} {
		f.Add(seed)
	}
	col := Target{Name: "c", OID: OIDTime, Type: "time without time zone"}
	f.Fuzz(func(t *testing.T, us int64) {
		rec := oneColumn(t, arrow.FixedWidthTypes.Time64us, func(b array.Builder) { appendValue(t, b, us) })
		what := fmt.Sprintf("time %d", us)
		if us < 0 || us > 86400000000 { // no Python time, and past the server's range
			refusedBoth(t, what, col, rec)
			return
		}
		s.checkBoth(t, what, col, rec, "time", pyClock(us, true))
	})
}
