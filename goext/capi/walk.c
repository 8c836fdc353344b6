// One column of a slab of row tuples as the buffers of the Arrow array
// the host's converter makes with pyarrow (python/pg_bulk_ingest/_arrow.py),
// written in C: for the common case of values all of one exact type (or
// None), where the host spends most of its time making Python lists and
// strs for pyarrow. A value of any other type (a subclass, an int out of
// int64, a lone surrogate, an aware datetime) makes the walk give up, and
// the host converts the column itself, with pyarrow's results and errors.
// The C API is pyapi.h's.

#include <stdlib.h>
#include <string.h>

#include "capi.h"
#include "pyapi.h"

// The kinds of column walked (_arrow.py's _WALK_ constants).
enum { INT64 = 0, FLOAT64 = 1, BOOL = 2, UTF8 = 3, STR_OF = 4, TIMESTAMP = 5, DATE32 = 6 };

// datetime.datetime's header (CPython's datetime.h, the same since 3.3):
// PyObject_HEAD, a hash, whether it has a tzinfo, then its fields as
// bytes: year (2, big-endian), month, day, hour, minute, second,
// microsecond (3, big-endian). A datetime.date's is the same up to its
// day.
typedef struct {
	pbi_object head;
	intptr_t hash;
	char hastzinfo;
	unsigned char data[10];
} datetime;

// days_from_civil is the days from 1970-01-01 to a proleptic Gregorian
// date (H. Hinnant's algorithm).
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

// days is the days from 1970-01-01 to a date's or datetime's day.
static int64_t days(const datetime *t) {
	const unsigned char *f = t->data;
	return days_from_civil(f[0] << 8 | f[1], f[2], f[3]);
}

// micros is what datetime - datetime(1970, 1, 1) is in microseconds, for
// a naive datetime.
static int64_t micros(const datetime *t) {
	const unsigned char *f = t->data;
	int64_t seconds = ((days(t) * 24 + f[4]) * 60 + f[5]) * 60 + f[6];
	return seconds * 1000000 + (f[7] << 16 | f[8] << 8 | f[9]);
}

// put_text writes the UTF-8 of str s; 0 for a lone surrogate.
static int put_text(buffer *b, void *s) {
	intptr_t n;
	const char *p = py.utf8(s, &n);
	if (p == NULL) {
		return 0;
	}
	put(b, p, (size_t)n);
	return 1;
}

// value writes v, of type t, to the values (or, for strs, the data); 0
// when v is not one to write here.
static int value(buffer *b, int kind, void *v, void *t) {
	void *type = TYPE(v);
	switch (kind) {
	case INT64: {
		if (type != py.int_) {
			return 0;
		}
		int overflow;
		int64_t x = py.long_value(v, &overflow);
		if (overflow) {
			return 0;
		}
		put(b, (const char *)&x, sizeof x);
		return 1;
	}
	case FLOAT64: {
		if (type != py.float_) {
			return 0;
		}
		double x = py.float_value(v);
		put(b, (const char *)&x, sizeof x);
		return 1;
	}
	case UTF8:
		return type == py.str && put_text(b, v);
	case STR_OF: {
		if (type != t) {
			return 0;
		}
		// str() of a type the host names (Decimal), which is C code but
		// need not be: v is held while it runs.
		py.incref(v);
		void *s = py.str_of(v);
		py.decref(v);
		if (s == NULL) {
			return 0;
		}
		int ok = TYPE(s) == py.str && put_text(b, s);
		py.decref(s);
		return ok;
	}
	case TIMESTAMP: {
		if (type != t || ((datetime *)v)->hastzinfo) {
			return 0;
		}
		int64_t x = micros(v);
		put(b, (const char *)&x, sizeof x);
		return 1;
	}
	case DATE32: {
		if (type != t) {
			return 0;
		}
		int32_t x = (int32_t)days(v);
		put(b, (const char *)&x, sizeof x);
		return 1;
	}
	}
	return 0;
}

int64_t pbi_walk_buffers(uintptr_t rows, int64_t column, int64_t kind, uintptr_t t, uintptr_t out) {
	if (!pbi_py_resolve()) {
		return -1;
	}
	int gil = py.gil_ensure();
	void *list = (void *)rows;
	int64_t rc = -1, nulls = 0;
	int text = kind == UTF8 || kind == STR_OF;
	buffer values = {0}, offsets = {0}, validity = {0};
	if (TYPE(list) != py.list) {
		goto done;
	}
	intptr_t n = py.list_size(list);
	size_t bitmap = (size_t)(n + 7) / 8;
	unsigned char *valid = (unsigned char *)grow(&validity, bitmap);
	unsigned char *bits = kind == BOOL ? (unsigned char *)grow(&values, bitmap) : NULL;
	// Strs' length guessed, the rest known: mostly one allocation each.
	size_t width = text ? 16 : kind == BOOL ? 0 : kind == DATE32 ? sizeof(int32_t) : sizeof(int64_t);
	if (valid == NULL || (kind == BOOL && bits == NULL) || !reserve(&values, (size_t)n * width) ||
	    (text && grow(&offsets, (size_t)(n + 1) * sizeof(int32_t)) == NULL)) {
		goto done;
	}
	memset(valid, 0, bitmap);
	if (bits != NULL) {
		memset(bits, 0, bitmap);
	}
	if (text) {
		offsets.len = 0;
		put(&offsets, (const char *)&(int32_t){0}, sizeof(int32_t));
	}
	for (intptr_t i = 0; i < n; i++) {
		// Read again each time: str() of a value may have run Python code.
		void *row = py.list_item(list, i);
		if (row == NULL || TYPE(row) != py.tuple) {
			goto done;
		}
		void *v = py.tuple_item(row, column); // NULL beyond the tuple's end
		if (v == NULL) {
			goto done;
		} else if (v == py.none) {
			nulls++;
			if (!text && kind != BOOL) {
				put(&values, (const char *)&(int64_t){0}, width); // a null's slot
			}
		} else if (kind == BOOL) {
			if (v != py.true_ && v != py.false_) {
				goto done;
			}
			bits[i / 8] |= (unsigned char)((v == py.true_) << (i % 8));
		} else if (!value(&values, (int)kind, v, (void *)t)) {
			goto done;
		}
		if (v != py.none) {
			valid[i / 8] |= (unsigned char)(1 << (i % 8));
		}
		if (values.failed || (text && values.len > INT32_MAX)) { // Arrow's utf8 offsets are int32
			goto done;
		}
		if (text) {
			int32_t end = (int32_t)values.len;
			char *at = grow(&offsets, sizeof end);
			if (at == NULL) {
				goto done;
			}
			memcpy(at, &end, sizeof end);
		}
	}
	if ((!text || append_bytes((void *)out, &offsets)) && append_bytes((void *)out, &values) &&
	    (nulls == 0 || append_bytes((void *)out, &validity))) {
		rc = nulls;
	}
done:
	py.err_clear();
	free(values.p);
	free(offsets.p);
	free(validity.p);
	py.gil_release(gil);
	return rc;
}
