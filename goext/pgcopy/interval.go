package pgcopy

import (
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

const OIDInterval = 1186

func init() {
	registerOIDs(codec{binary: intervalField}, OIDInterval)
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

func intervalField(_ Target, a arrow.Array) (field, error) {
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
