package pgcopy

import (
	"fmt"
	"math"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

// pyTimedelta is Python's str(timedelta(microseconds=us)).
func pyTimedelta(us int64) string {
	const day = 86400000000
	days := us / day
	if us%day < 0 {
		days--
	}
	out := pyClock(us-days*day, false)
	switch days {
	case 0:
		return out
	case 1, -1:
		return fmt.Sprintf("%d day, %s", days, out)
	}
	return fmt.Sprintf("%d days, %s", days, out)
}

func FuzzInterval(f *testing.F) {
	s := newServer(f)
	for _, seed := range []int64{0, 1, -1, 999999, -82800000000, 86400000000, -86400000000, 172800000001, -172800000001,
		999999999 * 86400000000 / 1000000, math.MaxInt64, math.MinInt64, math.MinInt64 + 1} {
		f.Add(seed)
	}
	col := Target{Name: "c", OID: OIDInterval, Type: "interval"}
	f.Fuzz(func(t *testing.T, us int64) {
		rec := oneColumn(t, arrow.FixedWidthTypes.Duration_us, func(b array.Builder) { appendValue(t, b, us) })
		py := pyTimedelta(us)
		s.checkBoth(t, fmt.Sprintf("interval %d (%s)", us, py), col, rec, "interval", py)
	})
}
