package engine

import (
	"reflect"
	"testing"
)

func TestProgressMarks(t *testing.T) {
	cases := []struct {
		before, after int
		want          []int
	}{
		{0, 99, nil},
		{0, 100, []int{100}},
		{0, 350, []int{100, 200, 300}},
		{100, 100, nil},
		{250, 1200, []int{300, 400, 500, 600, 700, 800, 900, 1000}},
		{900, 3000, []int{1000, 2000, 3000}},
		{9999, 10000, []int{10000}},
		{10000, 40001, []int{20000, 30000, 40000}},
		{999999, 1000000, []int{1000000}},
		{1000000, 3500000, []int{2000000, 3000000}},
		{10000000, 12000000, []int{11000000, 12000000}}, // at most every 1,000,000 rows
	}
	for _, c := range cases {
		if got := progressMarks(c.before, c.after); !reflect.DeepEqual(got, c.want) {
			t.Errorf("progressMarks(%d, %d) = %v, want %v", c.before, c.after, got, c.want)
		}
	}
}
