// Counts the Arrow arrays imported from the host that are not released
// yet: each one's release callback is wrapped to count it down, so that
// the soak tests can tell that Go releases every batch it is given.

#include <stdlib.h>

#include "capi.h"

static int64_t live_arrays;

typedef struct {
	void (*release)(struct ArrowArray *);
	void *private_data;
} tracked;

static void release_tracked(struct ArrowArray *a) {
	tracked *t = a->private_data;
	a->release = t->release;
	a->private_data = t->private_data;
	free(t);
	__atomic_fetch_sub(&live_arrays, 1, __ATOMIC_RELAXED);
	a->release(a);
}

void pbi_track(struct ArrowArray *a) {
	if (a->release == NULL) {
		return; // released already: the import reports it
	}
	tracked *t = malloc(sizeof *t);
	if (t == NULL) {
		return; // not counted, still released
	}
	t->release = a->release;
	t->private_data = a->private_data;
	a->release = release_tracked;
	a->private_data = t;
	__atomic_fetch_add(&live_arrays, 1, __ATOMIC_RELAXED);
}

int64_t pbi_live(void) { return __atomic_load_n(&live_arrays, __ATOMIC_RELAXED); }
