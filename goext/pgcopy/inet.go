package pgcopy

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
)

const (
	OIDCIDR = 650
	OIDInet = 869
)

func init() {
	registerOIDs(codec{binary: func(_ Target, a arrow.Array) (field, error) { return inetField(a, false) }}, OIDInet)
	registerOIDs(codec{binary: func(_ Target, a arrow.Array) (field, error) { return inetField(a, true) }}, OIDCIDR)
}

// inetField encodes addresses written as text (upstream's str() of an
// ipaddress object, or the user's own text): an address, or an address
// and prefix length. Other Arrow types, and text beyond that plain
// syntax (IPv4's abbreviations, CIDR's classful lengths), are left to
// the server, which reads them as it reads upstream's text.
func inetField(a arrow.Array, cidr bool) (field, error) {
	get := strs(a)
	if get == nil {
		return nil, textOnly("the server reads an address from its text")
	}
	return parsedField(a, get, func(dst []byte, s string) ([]byte, error) { return appendInet(dst, s, cidr) })
}

// Address families of the inet binary format.
const (
	pgAFInet  = 2
	pgAFInet6 = 3
)

// appendInet appends the field of an address: family, prefix length, the
// CIDR flag, the address's length and bytes.
func appendInet(dst []byte, s string, cidr bool) ([]byte, error) {
	var p netip.Prefix
	var err error
	if strings.Contains(s, "/") {
		p, err = netip.ParsePrefix(s)
	} else if cidr {
		err = fmt.Errorf("%q has no prefix length", s)
	} else {
		var addr netip.Addr
		if addr, err = netip.ParseAddr(s); err == nil && addr.Zone() != "" {
			err = fmt.Errorf("%q has a zone", s)
		}
		p = netip.PrefixFrom(addr, addr.BitLen())
	}
	switch {
	case err != nil:
		return dst, err
	case cidr && p.Masked() != p:
		return dst, fmt.Errorf("%q has bits set beyond its prefix length", s)
	}
	family, raw := byte(pgAFInet6), p.Addr().AsSlice()
	if p.Addr().Is4() {
		family = pgAFInet
	}
	isCIDR := byte(0)
	if cidr {
		isCIDR = 1
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(4+len(raw)))
	dst = append(dst, family, byte(p.Bits()), isCIDR, byte(len(raw)))
	return append(dst, raw...), nil
}
