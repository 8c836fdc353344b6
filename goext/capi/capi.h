// Declarations shared by the C ABI's Go files and track.c.
#ifndef PBI_CAPI_H
#define PBI_CAPI_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	int op;
	const char *json;
	size_t json_len;
	const void *data;
	size_t data_len;
} pbi_request;

// Answer statuses of pbi_step.
enum { PBI_OK = 0, PBI_HOST_ERROR = 1, PBI_NO_ANSWER = 2 };

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE
struct ArrowSchema {
	const char *format;
	const char *name;
	const char *metadata;
	int64_t flags;
	int64_t n_children;
	struct ArrowSchema **children;
	struct ArrowSchema *dictionary;
	void (*release)(struct ArrowSchema *);
	void *private_data;
};

struct ArrowArray {
	int64_t length;
	int64_t null_count;
	int64_t offset;
	int64_t n_buffers;
	int64_t n_children;
	const void **buffers;
	struct ArrowArray **children;
	struct ArrowArray *dictionary;
	void (*release)(struct ArrowArray *);
	void *private_data;
};
#endif

// pbi_track counts an imported array until its release (track.c).
__attribute__((visibility("hidden"))) void pbi_track(struct ArrowArray *a);
// pbi_live is the number of tracked arrays not yet released.
__attribute__((visibility("hidden"))) int64_t pbi_live(void);

// pbi_dumps_column writes json.dumps's text of a tuple of Python values
// (dumps.c); capi.go's pbi_json_dumps calls it.
__attribute__((visibility("hidden"))) int64_t pbi_dumps_column(uintptr_t values, uintptr_t dumps, uintptr_t out);

// pbi_walk_buffers writes a column of Python values as Arrow buffers
// (walk.c); walk.go's pbi_walk_column calls it.
__attribute__((visibility("hidden"))) int64_t pbi_walk_buffers(uintptr_t rows, int64_t column, int64_t kind, uintptr_t t, uintptr_t out);

#endif
