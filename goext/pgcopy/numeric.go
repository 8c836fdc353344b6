package pgcopy

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
)

const OIDNumeric = 1700

func init() {
	registerOIDs(codec{binary: numericField}, OIDNumeric)
}

func numericField(_ Target, a arrow.Array) (field, error) {
	if get, scale := decimals(a); get != nil {
		return decimalField(scale, get), nil
	}
	if get, bits := floats(a); get != nil {
		var text, digits []byte
		return func(dst []byte, i int) ([]byte, error) {
			f := get(i)
			switch {
			case math.IsNaN(f):
				return appendNumericSpecial(dst, numericNaN), nil
			case math.IsInf(f, 1):
				return appendNumericSpecial(dst, numericPosInf), nil
			case math.IsInf(f, -1):
				return appendNumericSpecial(dst, numericNegInf), nil
			}
			// What Python's str(f) writes (numpy's for a float32), whose
			// digits and scale upstream stores.
			text = appendShortFloat(text[:0], f, bits)
			var err error
			dst, digits, err = appendNumericText(dst, digits, string(text))
			return dst, err
		}, nil
	}
	if get := strs(a); get != nil {
		return numericTextField(a, get)
	}
	if get := ints(a); get != nil {
		var digits []byte
		return func(dst []byte, i int) ([]byte, error) {
			v, ok := get(i)
			neg := v < 0 && ok
			u := uint64(v)
			if neg {
				u = -u
			}
			digits = strconv.AppendUint(digits[:0], u, 10)
			return appendNumeric(dst, neg, digits, 0)
		}, nil
	}
	return nil, unsupported(a)
}

// decimalField encodes an Arrow decimal: its unscaled integer and scale.
// It goes through big.Int since negating the type's minimum would overflow.
func decimalField(scale int, get func(i int) *big.Int) field {
	var v big.Int
	var digits []byte
	return func(dst []byte, i int) ([]byte, error) {
		v.Set(get(i))
		neg := v.Sign() < 0
		digits = v.Abs(&v).Append(digits[:0], 10)
		return appendNumeric(dst, neg, digits, scale)
	}
}

// numericTextField encodes a column of numbers written as text. Text
// beyond the syntax every supported server reads (PostgreSQL 16 also
// reads 1_000 and 0x1F, 15 refuses them), or no number at all, is left to
// the server (parsedField).
func numericTextField(a arrow.Array, get func(int) string) (field, error) {
	var digits []byte
	return parsedField(a, get, func(dst []byte, s string) ([]byte, error) {
		var err error
		dst, digits, err = appendNumericText(dst, digits, s)
		return dst, err
	})
}

// appendPyDecimal writes v × 10^-scale as Python's str(Decimal) does.
func appendPyDecimal(dst []byte, v *big.Int, scale int) []byte {
	if v.Sign() < 0 {
		dst = append(dst, '-')
	}
	digits := new(big.Int).Abs(v).String()
	exp := -scale
	switch adjusted := exp + len(digits) - 1; {
	case exp > 0 || adjusted < -6:
		dst = append(dst, digits[0])
		if len(digits) > 1 {
			dst = append(append(dst, '.'), digits[1:]...)
		}
		return fmt.Appendf(dst, "E%+d", adjusted)
	case exp == 0:
		return append(dst, digits...)
	case len(digits) > -exp:
		point := len(digits) + exp
		return append(append(append(dst, digits[:point]...), '.'), digits[point:]...)
	}
	dst = append(dst, "0."...)
	for k := len(digits); k < -exp; k++ {
		dst = append(dst, '0')
	}
	return append(dst, digits...)
}

// Sign words of the numeric binary format.
const (
	numericPos    = 0x0000
	numericNeg    = 0x4000
	numericNaN    = 0xC000
	numericPosInf = 0xD000
	numericNegInf = 0xF000
)

// appendNumericSpecial appends NaN or an infinity.
func appendNumericSpecial(dst []byte, sign uint16) []byte {
	dst = binary.BigEndian.AppendUint32(dst, 8)
	dst = binary.BigEndian.AppendUint16(dst, 0) // ndigits
	dst = binary.BigEndian.AppendUint16(dst, 0) // weight
	dst = binary.BigEndian.AppendUint16(dst, sign)
	return binary.BigEndian.AppendUint16(dst, 0) // dscale
}

// appendNumeric appends the field (length and value) for the number
// digits × 10^-scale, digits being ASCII decimal digits.
func appendNumeric(dst []byte, neg bool, digits []byte, scale int) ([]byte, error) {
	if scale < 0 {
		for ; scale < 0; scale++ {
			digits = append(digits, '0')
		}
	}
	if scale > 0x3FFF {
		return dst, fmt.Errorf("numeric scale %d exceeds PostgreSQL's limit of 16383", scale)
	}
	// Pad so that the integer part and the fraction each fill whole
	// base-10000 groups; the padding is leading and trailing zeros.
	// The padded sequence is: integer padding, integer digits, zeros
	// between the point and the first digit, fraction digits, fraction
	// padding. Only the first two make up the integer part.
	intLen := len(digits) - scale
	lead := 0
	if intLen < 0 {
		lead = -intLen // zeros of the fraction, not of the integer part
		intLen = 0
	}
	intPad := (4 - intLen%4) % 4
	lead += intPad
	trail := (4 - scale%4) % 4
	total := lead + len(digits) + trail
	groups := total / 4
	weight := (intPad+intLen)/4 - 1

	at := func(k int) int { // decimal digit k of the padded sequence
		k -= lead
		if k < 0 || k >= len(digits) {
			return 0
		}
		return int(digits[k] - '0')
	}
	first, last := 0, groups-1
	group := func(g int) uint16 {
		return uint16(at(4*g)*1000 + at(4*g+1)*100 + at(4*g+2)*10 + at(4*g+3))
	}
	for first <= last && group(first) == 0 {
		first++
	}
	for last >= first && group(last) == 0 {
		last--
	}
	n := last - first + 1
	sign := uint16(numericPos)
	if n == 0 {
		weight = 0
	} else {
		weight -= first
		if neg {
			sign = numericNeg
		}
	}
	if weight > 0x7FFF || weight < -0x8000 {
		return dst, fmt.Errorf("numeric value out of PostgreSQL's range")
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(8+2*n))
	dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	dst = binary.BigEndian.AppendUint16(dst, uint16(int16(weight)))
	dst = binary.BigEndian.AppendUint16(dst, sign)
	dst = binary.BigEndian.AppendUint16(dst, uint16(scale))
	for g := first; g <= last; g++ {
		dst = binary.BigEndian.AppendUint16(dst, group(g))
	}
	return dst, nil
}

// appendNumericText appends a number written in text the way PostgreSQL's
// numeric input reads it, in the syntax all supported versions share:
// surrounding white space, an optional sign, then NaN, Infinity or inf
// (any case; NaN takes no sign), or decimal digits with an optional point
// and exponent. Python's str(Decimal), str(float) and str(int) all write
// a subset of this. It refuses the rest (PostgreSQL 16's 1_000 and 0x1F
// among it), which callers leave to the server.
func appendNumericText(dst []byte, scratch []byte, s string) ([]byte, []byte, error) {
	t := trimSpace(s)
	neg := false
	body := t
	if body != "" && (body[0] == '-' || body[0] == '+') {
		neg = body[0] == '-'
		body = body[1:]
	}
	switch {
	case strings.EqualFold(body, "nan"):
		if len(body) == len(t) {
			return appendNumericSpecial(dst, numericNaN), scratch, nil
		}
		return dst, scratch, fmt.Errorf("%q is not a number", s)
	case strings.EqualFold(body, "inf"), strings.EqualFold(body, "infinity"):
		if neg {
			return appendNumericSpecial(dst, numericNegInf), scratch, nil
		}
		return appendNumericSpecial(dst, numericPosInf), scratch, nil
	}
	digits := scratch[:0]
	scale := 0
	seenDigit, seenPoint := false, false
	i := 0
scan:
	for ; i < len(body); i++ {
		switch c := body[i]; {
		case isDigit(c):
			seenDigit = true
			if len(digits) > 0 || c != '0' {
				digits = append(digits, c)
			}
			if seenPoint {
				scale++
			}
		case c == '.' && !seenPoint:
			seenPoint = true
		default:
			break scan
		}
	}
	if !seenDigit {
		return dst, digits, fmt.Errorf("%q is not a number", s)
	}
	exp := 0
	if i < len(body) {
		if body[i] != 'e' && body[i] != 'E' {
			return dst, digits, fmt.Errorf("%q is not a number", s)
		}
		e := body[i+1:]
		eneg := false
		if e != "" && (e[0] == '-' || e[0] == '+') {
			eneg = e[0] == '-'
			e = e[1:]
		}
		if e == "" {
			return dst, digits, fmt.Errorf("%q is not a number", s)
		}
		for k := 0; k < len(e); k++ {
			c := e[k]
			if !isDigit(c) {
				return dst, digits, fmt.Errorf("%q is not a number", s)
			}
			// PostgreSQL refuses exponents above INT_MAX / 2 outright.
			if exp = exp*10 + int(c-'0'); exp > math.MaxInt32/2 {
				return dst, digits, fmt.Errorf("%q: numeric value out of PostgreSQL's range", s)
			}
		}
		if eneg {
			exp = -exp
		}
	}
	scale -= exp
	if len(digits) == 0 { // zero: only its scale is kept
		scale = max(scale, 0)
	} else if len(digits)-scale > numericMaxIntDigits {
		return dst, digits, fmt.Errorf("%q: numeric value out of PostgreSQL's range", s)
	}
	out, err := appendNumeric(dst, neg, digits, scale)
	if err != nil {
		return dst, digits, fmt.Errorf("%q: %w", s, err)
	}
	return out, digits, nil
}

// numericMaxIntDigits is the most digits a numeric holds before its point.
const numericMaxIntDigits = 0x8000 * 4

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// trimSpace trims what C's isspace calls white space, as PostgreSQL does.
func trimSpace(s string) string {
	isSpace := func(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }
	for s != "" && isSpace(s[0]) {
		s = s[1:]
	}
	for s != "" && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}
