// json.dumps's text of a column of Python values, written in C: the host
// spends most of a JSON column's time in json.dumps, whose C encoder
// still makes a Python str per value and per float. The text is
// byte-identical to json.dumps(v) (ensure_ascii, ", " and ": "); a value
// of any other kind than those walked here (a subclass, a big int, NaN,
// a non-str key, deep nesting, a circular reference, a lone surrogate)
// is handed to json.dumps itself, so that its text or its error is
// json.dumps's own. The C API is pyapi.h's.

#include <stdlib.h>
#include <string.h>

#include "capi.h"
#include "pyapi.h"

static const char hex[] = "0123456789abcdef";

static void put_escape(buffer *b, unsigned c) {
	char *at = grow(b, 6);
	if (at != NULL) {
		at[0] = '\\', at[1] = 'u';
		at[2] = hex[(c >> 12) & 0xf], at[3] = hex[(c >> 8) & 0xf];
		at[4] = hex[(c >> 4) & 0xf], at[5] = hex[c & 0xf];
	}
}

// put_string writes UTF-8 s as json's ensure_ascii string: printable
// ASCII as it is, the rest escaped as json's encoder escapes it.
static void put_string(buffer *b, const unsigned char *s, size_t n) {
	put(b, "\"", 1);
	size_t i = 0;
	while (i < n) {
		size_t start = i;
		while (i < n && s[i] >= ' ' && s[i] <= '~' && s[i] != '\\' && s[i] != '"') {
			i++;
		}
		put(b, (const char *)s + start, i - start);
		if (i == n) {
			break;
		}
		unsigned c = s[i];
		const char *short_escape = NULL;
		switch (c) {
		case '\\': short_escape = "\\\\"; break;
		case '"': short_escape = "\\\""; break;
		case '\b': short_escape = "\\b"; break;
		case '\f': short_escape = "\\f"; break;
		case '\n': short_escape = "\\n"; break;
		case '\r': short_escape = "\\r"; break;
		case '\t': short_escape = "\\t"; break;
		}
		if (short_escape != NULL) {
			put(b, short_escape, 2);
			i++;
			continue;
		}
		// Python's UTF-8 is valid: the sequence's length is its lead byte's.
		if (c < 0x80) {
			i++;
		} else if (c < 0xe0) {
			c = (c & 0x1f) << 6 | (s[i + 1] & 0x3f);
			i += 2;
		} else if (c < 0xf0) {
			c = (c & 0x0f) << 12 | (s[i + 1] & 0x3f) << 6 | (s[i + 2] & 0x3f);
			i += 3;
		} else {
			c = (c & 0x07) << 18 | (s[i + 1] & 0x3f) << 12 | (s[i + 2] & 0x3f) << 6 | (s[i + 3] & 0x3f);
			i += 4;
		}
		if (c >= 0x10000) { // a surrogate pair, as UTF-16
			c -= 0x10000;
			put_escape(b, 0xd800 | (c >> 10));
			c = 0xdc00 | (c & 0x3ff);
		}
		put_escape(b, c);
	}
	put(b, "\"", 1);
}

// Deeper values go to json.dumps, which also reports a circular one.
#define MAX_DEPTH 64

// walk writes json.dumps's text of v; 0 when v is of a kind it leaves
// to json.dumps (a Python error may then be set: the caller clears it).
static int walk(buffer *b, void *v, int depth) {
	void *t = TYPE(v);
	if (t == py.str) {
		intptr_t n;
		const char *s = py.utf8(v, &n);
		if (s == NULL) { // a lone surrogate
			return 0;
		}
		put_string(b, (const unsigned char *)s, (size_t)n);
		return 1;
	}
	if (t == py.int_) {
		int overflow;
		long long x = py.long_value(v, &overflow);
		if (overflow) {
			return 0;
		}
		char digits[24], *end = digits + sizeof digits, *d = end;
		unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
		do {
			*--d = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		if (x < 0) {
			*--d = '-';
		}
		put(b, d, (size_t)(end - d));
		return 1;
	}
	if (t == py.float_) {
		double x = py.float_value(v);
		if (x != x || x - x != 0) { // NaN or infinite: json.dumps's own text
			return 0;
		}
		// float.__repr__, which json.dumps writes.
		char *text = py.double_text(x, 'r', 0, 2 /* Py_DTSF_ADD_DOT_0 */, NULL);
		if (text == NULL) {
			return 0;
		}
		put(b, text, strlen(text));
		py.mem_free(text);
		return 1;
	}
	if (v == py.none) {
		put(b, "null", 4);
		return 1;
	}
	if (v == py.true_) {
		put(b, "true", 4);
		return 1;
	}
	if (v == py.false_) {
		put(b, "false", 5);
		return 1;
	}
	if (depth >= MAX_DEPTH) {
		return 0;
	}
	if (t == py.dict) {
		intptr_t pos = 0;
		void *key, *value;
		int first = 1;
		put(b, "{", 1);
		while (py.dict_next(v, &pos, &key, &value)) {
			if (TYPE(key) != py.str) {
				return 0;
			}
			if (!first) {
				put(b, ", ", 2);
			}
			first = 0;
			if (!walk(b, key, depth + 1)) {
				return 0;
			}
			put(b, ": ", 2);
			if (!walk(b, value, depth + 1)) {
				return 0;
			}
		}
		put(b, "}", 1);
		return 1;
	}
	if (t == py.list || t == py.tuple) {
		int list = t == py.list;
		put(b, "[", 1);
		for (intptr_t i = 0; i < (list ? py.list_size(v) : py.tuple_size(v)); i++) {
			if (i > 0) {
				put(b, ", ", 2);
			}
			if (!walk(b, list ? py.list_item(v, i) : py.tuple_item(v, i), depth + 1)) {
				return 0;
			}
		}
		put(b, "]", 1);
		return 1;
	}
	return 0;
}

// dumps_one writes json.dumps(v)'s text: walked here, or json.dumps's
// own. 0 when json.dumps fails (its error cleared).
static int dumps_one(buffer *b, void *v, void *dumps) {
	size_t start = b->len;
	if (walk(b, v, 0)) {
		return 1;
	}
	py.err_clear();
	b->len = start;
	void *text = py.call1(dumps, v, NULL);
	if (text == NULL) {
		py.err_clear();
		return 0;
	}
	intptr_t n;
	const char *s = TYPE(text) == py.str ? py.utf8(text, &n) : NULL;
	if (s != NULL) {
		put(b, s, (size_t)n);
	}
	py.decref(text);
	if (s == NULL) {
		py.err_clear();
	}
	return s != NULL;
}

int64_t pbi_dumps_column(uintptr_t values, uintptr_t dumps, uintptr_t out) {
	if (!pbi_py_resolve()) {
		return -1;
	}
	int gil = py.gil_ensure();
	void *seq = (void *)values;
	int64_t rc = -1, nulls = 0;
	buffer data = {0}, offsets = {0}, validity = {0};
	if (TYPE(seq) != py.tuple) { // not a list, which json.dumps's fallback could change under the walk
		goto done;
	}
	intptr_t n = py.tuple_size(seq);
	int32_t *ends = (int32_t *)grow(&offsets, (size_t)(n + 1) * sizeof(int32_t));
	unsigned char *valid = (unsigned char *)grow(&validity, (size_t)(n + 7) / 8 + 1);
	if (ends == NULL || valid == NULL) {
		goto done;
	}
	memset(valid, 0, validity.len);
	ends[0] = 0;
	for (intptr_t i = 0; i < n; i++) {
		void *v = py.tuple_item(seq, i);
		if (v == py.none) { // SQL NULL, not JSON's null
			nulls++;
		} else {
			if (!dumps_one(&data, v, (void *)dumps)) {
				goto done;
			}
			valid[i / 8] |= (unsigned char)(1 << (i % 8));
		}
		if (data.failed || data.len > INT32_MAX) { // Arrow's utf8 offsets are int32
			goto done;
		}
		ends[i + 1] = (int32_t)data.len;
	}
	if (append_bytes((void *)out, &offsets) && append_bytes((void *)out, &data) &&
	    (nulls == 0 || append_bytes((void *)out, &validity))) {
		rc = nulls;
	} else {
		py.err_clear();
	}
done:
	free(data.p);
	free(offsets.p);
	free(validity.p);
	py.gil_release(gil);
	return rc;
}
