package pgcopy

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
	_ "time/tzdata" // zones of Arrow timestamps, wherever the library runs

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

const (
	OIDDate        = 1082
	OIDTime        = 1083
	OIDTimestamp   = 1114
	OIDTimestamptz = 1184
)

func init() {
	registerOIDs(codec{binary: dateField}, OIDDate)
	registerOIDs(codec{binary: timeField}, OIDTime)
	registerOIDs(codec{binary: func(_ Target, a arrow.Array) (field, error) { return timestampField(a, false) }}, OIDTimestamp)
	registerOIDs(codec{binary: func(_ Target, a arrow.Array) (field, error) { return timestampField(a, true) }}, OIDTimestamptz)
}

// Days and microseconds between the Unix epoch and PostgreSQL's, 2000-01-01.
const (
	pgEpochDays   = 10957
	pgEpochMicros = pgEpochDays * 86400 * 1000000
)

// days reads an Arrow date array as days since the Unix epoch.
func days(a arrow.Array) func(i int) int64 {
	switch a := a.(type) {
	case *array.Date32:
		return func(i int) int64 { return int64(a.Value(i)) }
	case *array.Date64:
		return func(i int) int64 { return floorDiv(int64(a.Value(i)), 86400000) }
	}
	return nil
}

const microsPerDay = 86400 * 1000000

// toMicros converts a timestamp in unit to microseconds, truncating
// nanoseconds toward minus infinity as PostgreSQL rounds none.
func toMicros(v int64, unit arrow.TimeUnit) (int64, bool) {
	switch unit {
	case arrow.Second:
		return v * 1000000, v <= math.MaxInt64/1000000 && v >= math.MinInt64/1000000
	case arrow.Millisecond:
		return v * 1000, v <= math.MaxInt64/1000 && v >= math.MinInt64/1000
	case arrow.Nanosecond:
		return floorDiv(v, 1000), true
	}
	return v, true
}

// floorDiv divides rounding toward minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// dateField writes dates, and the date of a timestamp's wall-clock time
// in its own zone (the server's reading of its text).
func dateField(_ Target, a arrow.Array) (field, error) {
	get, err := dates(a)
	if get == nil {
		return nil, err
	}
	return func(dst []byte, i int) ([]byte, error) {
		d, ok := get(i)
		d -= pgEpochDays
		// The ends of int32 are -infinity and infinity to the server.
		if !ok || d <= math.MinInt32 || d >= math.MaxInt32 {
			return dst, fmt.Errorf("out of range for a date")
		}
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(dst, 4), uint32(int32(d))), nil
	}, nil
}

func dates(a arrow.Array) (func(i int) (int64, bool), error) {
	if get := days(a); get != nil {
		return func(i int) (int64, bool) { return get(i), true }, nil
	}
	ts, ok := a.(*array.Timestamp)
	if !ok {
		return nil, unsupported(a)
	}
	get, _, err := wallClocks(ts)
	if err != nil {
		return nil, err
	}
	return func(i int) (int64, bool) {
		us, offset, ok := get(i)
		pg, inRange := pgMicros(us, offset)
		return floorDiv(pg, microsPerDay) + pgEpochDays, ok && inRange
	}, nil
}

// timestampField writes a TIMESTAMP: a timestamp's wall-clock time in its
// own zone (the server drops the offset of upstream's text of an aware
// datetime), a date's midnight; or a TIMESTAMP WITH TIME ZONE: a zoned
// timestamp's instant. A naive timestamp or a date is read in the
// session's TimeZone there, which only the server knows: text COPY.
func timestampField(a arrow.Array, zoned bool) (field, error) {
	var get func(i int) (int64, bool) // microseconds since PostgreSQL's epoch
	switch a := a.(type) {
	case *array.Timestamp:
		walls, isZoned, err := wallClocks(a)
		if err != nil {
			return nil, err
		}
		tt := a.DataType().(*arrow.TimestampType)
		switch {
		case zoned && !isZoned:
			return nil, textOnly("a timestamp without time zone is read in the session's TimeZone")
		case zoned || tt.TimeZone == "" || tt.TimeZone == "UTC": // the value itself: an instant, or a wall-clock time
			get = func(i int) (int64, bool) {
				us, ok := toMicros(int64(a.Value(i)), tt.Unit)
				pg, inRange := pgMicros(us, 0)
				return pg, ok && inRange
			}
		default:
			get = func(i int) (int64, bool) {
				us, offset, ok := walls(i)
				pg, inRange := pgMicros(us, offset)
				return pg, ok && inRange
			}
		}
	default:
		day := days(a)
		if day == nil {
			return nil, unsupported(a)
		}
		if zoned {
			return nil, textOnly("a date is read in the session's TimeZone")
		}
		get = func(i int) (int64, bool) {
			us, ok := toMicros(day(i)*86400, arrow.Second)
			pg, inRange := pgMicros(us, 0)
			return pg, ok && inRange
		}
	}
	return func(dst []byte, i int) ([]byte, error) {
		pg, ok := get(i)
		if !ok {
			return dst, fmt.Errorf("out of range for a timestamp")
		}
		return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(dst, 8), uint64(pg)), nil
	}, nil
}

// clock reads an Arrow time of day as microseconds since midnight,
// flooring nanoseconds as Python's datetime.time has none; false when it
// is outside PostgreSQL's range, 00:00 to 24:00.
func clock(a arrow.Array) func(i int) (int64, bool) {
	var get func(i int) int64
	switch a := a.(type) {
	case *array.Time64:
		unit := a.DataType().(*arrow.Time64Type).Unit
		get = func(i int) int64 { us, _ := toMicros(int64(a.Value(i)), unit); return us }
	case *array.Time32:
		unit := a.DataType().(*arrow.Time32Type).Unit
		get = func(i int) int64 { us, _ := toMicros(int64(a.Value(i)), unit); return us }
	default:
		return nil
	}
	return func(i int) (int64, bool) {
		us := get(i)
		return us, us >= 0 && us <= microsPerDay
	}
}

var errTimeRange = fmt.Errorf("out of range for a time of day")

func timeField(_ Target, a arrow.Array) (field, error) {
	get := clock(a)
	if get == nil {
		return nil, unsupported(a)
	}
	return func(dst []byte, i int) ([]byte, error) {
		us, ok := get(i)
		if !ok {
			return dst, errTimeRange
		}
		return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(dst, 8), uint64(us)), nil
	}, nil
}

// appendClock writes microseconds since midnight as HH:MM:SS.ffffff.
func appendClock(dst []byte, us int64) []byte {
	s := us / 1000000
	return fmt.Appendf(dst, "%02d:%02d:%02d.%06d", s/3600, s/60%60, s%60, us%1000000)
}

// appendDate writes the date of tm as YYYY-MM-DD, years before 1 AD as BC
// years ending with " BC".
func appendDate(dst []byte, tm time.Time) []byte {
	dst, e := appendDateEra(dst, tm)
	return append(dst, e...)
}

// appendDateEra writes YYYY-MM-DD and returns the era to write last.
func appendDateEra(dst []byte, tm time.Time) ([]byte, string) {
	y, e := tm.Year(), ""
	if y <= 0 {
		y, e = 1-y, " BC"
	}
	return fmt.Appendf(dst, "%04d-%02d-%02d", y, tm.Month(), tm.Day()), e
}

// wallClocks reads a timestamp array: each value as microseconds since
// the Unix epoch (an instant for a zoned array, a wall-clock time for a
// naive one) and the UTC offset in seconds of the array's zone then (0
// for a naive array), whose sum is the value's wall-clock time; false
// when out of int64's range. zoned tells whether the array has a zone;
// an unknown zone is an error.
func wallClocks(a *array.Timestamp) (get func(i int) (us int64, offset int, ok bool), zoned bool, err error) {
	tt := a.DataType().(*arrow.TimestampType)
	loc, err := tt.GetZone()
	if err != nil {
		return nil, false, err
	}
	if loc == time.UTC {
		return func(i int) (int64, int, bool) {
			us, ok := toMicros(int64(a.Value(i)), tt.Unit)
			return us, 0, ok
		}, tt.TimeZone != "", nil
	}
	return func(i int) (int64, int, bool) {
		us, ok := toMicros(int64(a.Value(i)), tt.Unit)
		_, offset := time.UnixMicro(us).In(loc).Zone()
		return us, offset, ok
	}, true, nil
}

// pgMicros is Unix microseconds plus an offset in seconds as microseconds
// since PostgreSQL's epoch; false when out of int64, or at its ends, which
// are -infinity and infinity to the server.
func pgMicros(us int64, offset int) (int64, bool) {
	if us <= math.MinInt64+pgEpochMicros {
		return 0, false
	}
	pg, off := us-pgEpochMicros, int64(offset)*1000000
	if pg <= math.MinInt64-min(off, 0) || pg >= math.MaxInt64-max(off, 0) {
		return 0, false
	}
	return pg + off, true
}

// appendTimestamp writes microseconds since the Unix epoch plus an offset
// in seconds (a wall-clock time) as YYYY-MM-DD HH:MM:SS.ffffff, then when
// zoned the offset as Python writes an aware datetime's (+HH:MM[:SS],
// with +HH read the same).
func appendTimestamp(dst []byte, us int64, offset int, zoned bool) []byte {
	tm := time.UnixMicro(us).Add(time.Duration(offset) * time.Second).UTC()
	dst, e := appendDateEra(dst, tm)
	h, m, sec := tm.Clock()
	dst = appendClock(append(dst, ' '), int64(h*3600+m*60+sec)*1000000+int64(tm.Nanosecond()/1000))
	if zoned {
		sign := byte('+')
		if offset < 0 {
			sign, offset = '-', -offset
		}
		dst = fmt.Appendf(append(dst, sign), "%02d", offset/3600)
		if offset%3600 != 0 {
			dst = fmt.Appendf(dst, ":%02d", offset/60%60)
			if offset%60 != 0 {
				dst = fmt.Appendf(dst, ":%02d", offset%60)
			}
		}
	}
	return append(dst, e...)
}
