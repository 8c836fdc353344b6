package pgcopy

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"time"
	_ "time/tzdata" // zones of Arrow timestamps, wherever the library runs

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

// floorDiv divides rounding toward minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

const microsPerDay = 86400 * 1000000

// uuids reads a UUID column's values: fixed_size_binary(16), or binary
// of any layout whose values must then be 16 bytes long.
func uuids(a arrow.Array) func(i int) ([]byte, error) {
	if f, ok := a.(*array.FixedSizeBinary); ok && f.DataType().(*arrow.FixedSizeBinaryType).ByteWidth != 16 {
		return nil
	}
	get := byteStrings(a)
	if get == nil {
		return nil
	}
	return func(i int) ([]byte, error) {
		b := get(i)
		if len(b) != 16 {
			return nil, fmt.Errorf("has %d bytes, a UUID has 16", len(b))
		}
		return b, nil
	}
}

func uuidField(a arrow.Array) (field, error) {
	get := uuids(a)
	if get == nil {
		return nil, unsupported(a)
	}
	return func(dst []byte, i int) ([]byte, error) {
		u, err := get(i)
		if err != nil {
			return dst, err
		}
		return append(binary.BigEndian.AppendUint32(dst, 16), u...), nil
	}, nil
}

// appendUUID writes a UUID as Python's str(uuid.UUID) does.
func appendUUID(dst, u []byte) []byte {
	for k, part := range [][]byte{u[:4], u[4:6], u[6:8], u[8:10], u[10:]} {
		if k > 0 {
			dst = append(dst, '-')
		}
		dst = hex.AppendEncode(dst, part)
	}
	return dst
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

func timeField(a arrow.Array) (field, error) {
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

// durations reads an Arrow duration as whole days and the microseconds
// left, in [0, 1 day): how the server reads Python's str(timedelta),
// e.g. "-1 day, 1:00:00". False when microseconds overflow int64.
func durations(a arrow.Array) func(i int) (days, us int64, ok bool) {
	d, isDuration := a.(*array.Duration)
	if !isDuration {
		return nil
	}
	unit := d.DataType().(*arrow.DurationType).Unit
	return func(i int) (int64, int64, bool) {
		us, ok := toMicros(int64(d.Value(i)), unit)
		days := floorDiv(us, microsPerDay)
		return days, us - days*microsPerDay, ok
	}
}

var errIntervalRange = fmt.Errorf("out of range for an interval")

func intervalField(a arrow.Array) (field, error) {
	get := durations(a)
	if get == nil {
		return nil, unsupported(a)
	}
	return func(dst []byte, i int) ([]byte, error) {
		days, us, ok := get(i)
		if !ok {
			return dst, errIntervalRange
		}
		dst = binary.BigEndian.AppendUint32(dst, 16)
		dst = binary.BigEndian.AppendUint64(dst, uint64(us))
		dst = binary.BigEndian.AppendUint32(dst, uint32(int32(days))) // |days| < 2^27 from int64 microseconds
		return binary.BigEndian.AppendUint32(dst, 0), nil             // months
	}, nil
}

// appendInterval writes days and a time of day as interval input; the
// explicit + keeps the time positive under IntervalStyle sql_standard.
func appendInterval(dst []byte, days, us int64) []byte {
	return appendClock(fmt.Appendf(dst, "%d days +", days), us)
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
