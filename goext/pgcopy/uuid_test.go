package pgcopy

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"

	"github.com/apache/arrow/go/v15/arrow/array"
)

func FuzzUUID(f *testing.F) {
	s := newServer(f)
	for _, seed := range [][2]uint64{{0, 0}, {math.MaxUint64, math.MaxUint64}, {0x0011223344556677, 0x8899aabbccddeeff}} {
		f.Add(seed[0], seed[1])
	}
	col := Target{Name: "c", OID: OIDUUID, Type: "uuid"}
	f.Fuzz(func(t *testing.T, hi, lo uint64) {
		u := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, hi), lo)
		rec := oneColumn(t, uuid16, func(b array.Builder) { appendValue(t, b, u) })
		h := hex.EncodeToString(u) // Python's str(uuid.UUID(bytes=u))
		py := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
		s.checkBoth(t, "uuid "+py, col, rec, "uuid", py)
	})
}
