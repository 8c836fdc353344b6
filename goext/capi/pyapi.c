// The C API looked up at run time, and buffers (pyapi.h).

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pyapi.h"

pbi_pyapi py;

static int resolved; // 1: looked up, -1: missing
static pthread_once_t resolving = PTHREAD_ONCE_INIT;

static void resolve(void) {
	struct {
		void *dest;
		const char *name;
	} names[] = {
		{&py.gil_ensure, "PyGILState_Ensure"},
		{&py.gil_release, "PyGILState_Release"},
		{&py.incref, "Py_IncRef"},
		{&py.decref, "Py_DecRef"},
		{&py.err_clear, "PyErr_Clear"},
		{&py.dict_next, "PyDict_Next"},
		{&py.list_size, "PyList_Size"},
		{&py.list_item, "PyList_GetItem"},
		{&py.list_append, "PyList_Append"},
		{&py.tuple_size, "PyTuple_Size"},
		{&py.tuple_item, "PyTuple_GetItem"},
		{&py.utf8, "PyUnicode_AsUTF8AndSize"},
		{&py.long_value, "PyLong_AsLongLongAndOverflow"},
		{&py.float_value, "PyFloat_AsDouble"},
		{&py.double_text, "PyOS_double_to_string"},
		{&py.mem_free, "PyMem_Free"},
		{&py.call1, "PyObject_CallFunctionObjArgs"},
		{&py.str_of, "PyObject_Str"},
		{&py.bytes, "PyBytes_FromStringAndSize"},
		{&py.dict, "PyDict_Type"},
		{&py.list, "PyList_Type"},
		{&py.tuple, "PyTuple_Type"},
		{&py.str, "PyUnicode_Type"},
		{&py.int_, "PyLong_Type"},
		{&py.float_, "PyFloat_Type"},
		{&py.true_, "_Py_TrueStruct"},
		{&py.false_, "_Py_FalseStruct"},
		{&py.none, "_Py_NoneStruct"},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		void *p = dlsym(RTLD_DEFAULT, names[i].name);
		if (p == NULL) {
			resolved = -1;
			return;
		}
		memcpy(names[i].dest, &p, sizeof p);
	}
	resolved = 1;
}

int pbi_py_resolve(void) {
	pthread_once(&resolving, resolve);
	return resolved > 0;
}

int reserve(buffer *b, size_t n) {
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		while (cap < b->len + n) {
			cap *= 2;
		}
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->failed = 1;
			return 0;
		}
		b->p = p;
		b->cap = cap;
	}
	return 1;
}

char *grow(buffer *b, size_t n) {
	if (!reserve(b, n)) {
		return NULL;
	}
	char *at = b->p + b->len;
	b->len += n;
	return at;
}

void put(buffer *b, const char *s, size_t n) {
	char *at = grow(b, n);
	if (at != NULL) {
		memcpy(at, s, n);
	}
}

int append_bytes(void *out, const buffer *b) {
	void *bytes = py.bytes(b->p, (intptr_t)b->len);
	if (bytes == NULL) {
		return 0;
	}
	int rc = py.list_append(out, bytes);
	py.decref(bytes);
	return rc == 0;
}
