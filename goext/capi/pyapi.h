// The CPython C API as the library's C looks it up at run time (pyapi.c),
// and the growing buffers it writes into; shared by dumps.c and walk.c.
//
// The library is not linked against Python: the interpreter's C API is
// looked up in the process (dlsym), once. Objects are read through
// functions of the stable ABI, but for each object's type, read from its
// header (PyObject's ob_type, after the reference count), which the host
// checks it may (not in a free-threaded build).
#ifndef PBI_PYAPI_H
#define PBI_PYAPI_H

#include <stddef.h>
#include <stdint.h>

#define HIDDEN __attribute__((visibility("hidden")))

typedef struct {
	intptr_t refcnt;
	void *type;
} pbi_object;

#define TYPE(o) (((pbi_object *)(o))->type)

// The C API functions used, by their stable-ABI signatures.
typedef struct {
	int (*gil_ensure)(void);
	void (*gil_release)(int);
	void (*incref)(void *);
	void (*decref)(void *);
	void (*err_clear)(void);
	int (*dict_next)(void *, intptr_t *, void **, void **);
	intptr_t (*list_size)(void *);
	void *(*list_item)(void *, intptr_t);
	int (*list_append)(void *, void *);
	intptr_t (*tuple_size)(void *);
	void *(*tuple_item)(void *, intptr_t);
	const char *(*utf8)(void *, intptr_t *);
	long long (*long_value)(void *, int *);
	double (*float_value)(void *);
	char *(*double_text)(double, char, int, int, int *);
	void (*mem_free)(void *);
	void *(*call1)(void *, ...);
	void *(*str_of)(void *);
	void *(*bytes)(const char *, intptr_t);
	void *dict, *list, *tuple, *str, *int_, *float_, *true_, *false_, *none;
} pbi_pyapi;

extern HIDDEN pbi_pyapi py;

// pbi_py_resolve looks the C API up (once); 0 when it is not all there.
HIDDEN int pbi_py_resolve(void);

typedef struct {
	char *p;
	size_t len, cap;
	int failed; // out of memory
} buffer;

// reserve makes room for n more bytes; 0 (and failed set) when memory
// runs out.
HIDDEN int reserve(buffer *b, size_t n);
// grow makes room for n more bytes and returns where they go (NULL, and
// failed set, when memory runs out).
HIDDEN char *grow(buffer *b, size_t n);
HIDDEN void put(buffer *b, const char *s, size_t n);
// append_bytes appends a bytes object of b's bytes to the list out.
HIDDEN int append_bytes(void *out, const buffer *b);

#endif
