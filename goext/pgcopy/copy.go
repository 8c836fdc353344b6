package pgcopy

import (
	"errors"

	"github.com/apache/arrow/go/v15/arrow"
)

// Format is a COPY data format.
type Format int

const (
	Text Format = iota
	Binary
)

var (
	// header starts every binary COPY stream: signature, flags, extension length.
	header = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	// trailer ends every binary COPY stream.
	trailer = []byte{0xff, 0xff}
)

// Record is the rows of one Arrow record prepared for COPY in the format
// their columns need.
type Record struct {
	rows interface {
		Append(dst []byte, i int) ([]byte, error)
	}
	format Format
	n      int
}

// Prepare checks that rec fits cols and chooses its format: binary when
// every column has a binary encoder for its Arrow type, else text, whose
// values the server parses as it parses upstream's.
func Prepare(cols []Target, rec arrow.Record) (*Record, error) {
	n := int(rec.NumRows())
	if rows, err := newBinaryRows(cols, rec); err == nil {
		return &Record{rows: rows, format: Binary, n: n}, nil
	}
	return PrepareText(cols, rec)
}

// PrepareText checks that rec fits cols and prepares its rows as text,
// whatever their columns: for a TextStream, or a text COPY.
func PrepareText(cols []Target, rec arrow.Record) (*Record, error) {
	rows, err := newTextRows(cols, rec)
	if err != nil {
		return nil, err
	}
	return &Record{rows: rows, format: Text, n: int(rec.NumRows())}, nil
}

// Format is the COPY format the record's rows need.
func (r *Record) Format() Format { return r.format }

// Encoder writes the data of one COPY FROM STDIN in one format: its
// header, the rows of records, then its trailer. It appends to the
// caller's buffers and does no I/O, so that the caller chooses when the
// bytes are made and how they travel.
type Encoder struct {
	format Format
	state  encoderState
}

type encoderState int

const (
	headerDue encoderState = iota
	inRows
	ended
)

var (
	errEnded     = errors.New("pgcopy: rows after the end of the COPY data")
	errFormatMix = errors.New("pgcopy: a record's rows in another format than the COPY's")
)

// NewEncoder starts the data of a COPY in format.
func NewEncoder(format Format) *Encoder { return &Encoder{format: format} }

// Format is the format of the COPY's data.
func (e *Encoder) Format() Format { return e.format }

// Append appends rec's rows, after the header if it is due. A value that
// cannot be stored is a *ValueError, whose Row counts rec's rows.
func (e *Encoder) Append(dst []byte, rec *Record) ([]byte, error) {
	switch {
	case e.state == ended:
		return dst, errEnded
	case rec.format != e.format:
		return dst, errFormatMix
	}
	dst = e.start(dst)
	var err error
	for i := 0; i < rec.n; i++ {
		if dst, err = rec.rows.Append(dst, i); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// End appends the trailer, after the header if it is due; the data is
// then complete, and ending it again appends nothing.
func (e *Encoder) End(dst []byte) []byte {
	if e.state == ended {
		return dst
	}
	dst = e.start(dst)
	e.state = ended
	if e.format == Binary {
		dst = append(dst, trailer...)
	}
	return dst
}

func (e *Encoder) start(dst []byte) []byte {
	if e.state != headerDue {
		return dst
	}
	e.state = inRows
	if e.format == Binary {
		dst = append(dst, header...)
	}
	return dst
}
