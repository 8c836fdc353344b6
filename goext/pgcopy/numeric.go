package pgcopy

import (
	"encoding/binary"
	"fmt"
	"strings"
)

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
	intLen := len(digits) - scale
	lead := 0
	if intLen < 0 {
		lead = -intLen
		intLen = 0
	}
	lead += (4 - intLen%4) % 4
	trail := (4 - scale%4) % 4
	total := lead + len(digits) + trail
	groups := total / 4
	weight := (lead+intLen)/4 - 1

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

// appendNumericText appends a number written in decimal text, as Python's
// str(Decimal) and str(float) and PostgreSQL's numeric input write them:
// an optional sign, digits with an optional point, an optional exponent,
// or NaN / Infinity / inf.
func appendNumericText(dst []byte, scratch []byte, s string) ([]byte, []byte, error) {
	t := strings.TrimSpace(s)
	neg := false
	body := t
	if body != "" && (body[0] == '-' || body[0] == '+') {
		neg = body[0] == '-'
		body = body[1:]
	}
	switch strings.ToLower(body) {
	case "nan":
		if t[0] == '-' || t[0] == '+' {
			break
		}
		return appendNumericSpecial(dst, numericNaN), scratch, nil
	case "inf", "infinity":
		if neg {
			return appendNumericSpecial(dst, numericNegInf), scratch, nil
		}
		return appendNumericSpecial(dst, numericPosInf), scratch, nil
	}
	digits := scratch[:0]
	scale, exp := 0, 0
	seenDigit, seenPoint := false, false
	i := 0
	for ; i < len(body); i++ {
		c := body[i]
		switch {
		case c >= '0' && c <= '9':
			seenDigit = true
			if len(digits) > 0 || c != '0' {
				digits = append(digits, c)
			}
			if seenPoint {
				scale++
			}
			continue
		case c == '.' && !seenPoint:
			seenPoint = true
			continue
		}
		break
	}
	if !seenDigit {
		return dst, digits, fmt.Errorf("%q is not a number", s)
	}
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
		if e == "" || len(e) > 6 {
			return dst, digits, fmt.Errorf("%q is not a number", s)
		}
		for _, c := range []byte(e) {
			if c < '0' || c > '9' {
				return dst, digits, fmt.Errorf("%q is not a number", s)
			}
			exp = exp*10 + int(c-'0')
		}
		if eneg {
			exp = -exp
		}
	}
	scale -= exp
	out, err := appendNumeric(dst, neg, digits, scale)
	if err != nil {
		return dst, digits, fmt.Errorf("%q: %w", s, err)
	}
	return out, digits, nil
}
