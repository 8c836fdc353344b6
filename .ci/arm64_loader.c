// A host for the wheel's libpgbulkingest.so in C, as small as it gets, so
// that .ci/check_arm64.sh can load the arm64 library under qemu-aarch64
// without an arm64 Python: it dlopen()s the library as cffi does and
// drives the C ABI that python/pg_bulk_ingest/_protocol.py declares.
//
//     arm64_loader path/to/libpgbulkingest.so               (the wheel's: no test hooks)
//     arm64_loader path/to/libpgbulkingest.so --test-hooks  (python build.py --test-hooks)
//
// Each check prints one line; the exit status is the number that failed.
// Passing means the Go runtime starts inside a foreign process on this
// architecture, runs goroutines and channels across cgo calls, allocates C
// memory for the host, and (with the test hooks, which make one) turns a
// memory fault into an error.

#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../goext/capi/capi.h" // pbi_request and the answer statuses: the ABI's one definition

// The engine's op that ends a session and where pbi_test_panic makes a
// panic happen in the call itself: check_arm64.sh defines them from
// _protocol.py, which Go generates.
#if !defined(OP_DONE) || !defined(PANIC_HERE)
#error "compile with -DOP_DONE=... -DPANIC_HERE=... (python/pg_bulk_ingest/_protocol.py)"
#endif

typedef uint64_t (*start_fn)(char *doc, size_t n, char **err);
typedef int (*step_fn)(uint64_t id, int status, char *doc, size_t n, void *arr, void *schema, pbi_request *out);
typedef void (*close_fn)(uint64_t id);
typedef void (*free_fn)(void *p);
typedef char *(*stats_fn)(void);
typedef char *(*panic_fn)(int where, int op);

static int failures;

static void check(int ok, const char *what, const char *detail) {
	printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what, detail ? ": " : "", detail ? detail : "");
	if (!ok)
		failures++;
}

// The same table spec as goext/capi's tests: one table, one column.
static char valid_doc[] =
	"{\"tables\": [{\"schema\": \"s\", \"name\": \"t\", \"columns\": [{\"name\": \"id\", \"type\": \"INTEGER\"}]}],"
	" \"options\": {\"upsert\": \"__IF_PRIMARY_KEY__\", \"delete\": \"__OFF__\","
	" \"visibility\": \"__AFTER_EACH_BATCH__\"}}";

int main(int argc, char **argv) {
	int hooks = argc == 3 && strcmp(argv[2], "--test-hooks") == 0;
	if (argc != 2 && !hooks) {
		fprintf(stderr, "usage: %s libpgbulkingest.so [--test-hooks]\n", argv[0]);
		return 2;
	}
	void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		printf("FAIL dlopen: %s\n", dlerror());
		return 1;
	}
	check(1, "dlopen", argv[1]);
	start_fn start = (start_fn)dlsym(lib, "pbi_start");
	step_fn step = (step_fn)dlsym(lib, "pbi_step");
	close_fn close_ = (close_fn)dlsym(lib, "pbi_close");
	free_fn free_ = (free_fn)dlsym(lib, "pbi_free");
	stats_fn stats = (stats_fn)dlsym(lib, "pbi_stats");
	panic_fn test_panic = (panic_fn)dlsym(lib, "pbi_test_panic");
	if (!start || !step || !close_ || !free_ || !stats) {
		printf("FAIL dlsym: an exported function of the C ABI is missing\n");
		return 1;
	}
	check(1, "dlsym", "pbi_start pbi_step pbi_close pbi_free pbi_stats");
	check((test_panic != NULL) == hooks, hooks ? "the test library has pbi_test_panic" : "the library has no test hooks",
	      NULL);

	// A malformed table spec: the engine's JSON decoder refuses it.
	char bad[] = "{not json";
	char *err = NULL;
	uint64_t id = start(bad, strlen(bad), &err);
	check(id == 0 && err != NULL && strstr(err, "decoding table spec") != NULL, "pbi_start refuses a malformed spec",
	      err);
	if (err != NULL)
		free_(err);

	// A valid spec starts a session: its engine runs on a goroutine and
	// sends its first request through a channel. Every request is then
	// answered with a host error, until the engine gives up (OP_DONE with
	// that error).
	err = NULL;
	id = start(valid_doc, strlen(valid_doc), &err);
	check(id != 0, "pbi_start starts a session", err);
	if (id != 0) {
		pbi_request out;
		memset(&out, 0, sizeof out);
		step(id, PBI_NO_ANSWER, NULL, 0, NULL, NULL, &out);
		int steps = 1;
		char first[64];
		snprintf(first, sizeof first, "first request op %d", out.op);
		check(out.op != OP_DONE, "pbi_step gets the engine's first request", first);
		char host_error[] = "{\"message\": \"the arm64 loader has no database\", \"sqlstate\": \"08000\"}";
		while (out.op != OP_DONE && steps < 100) {
			step(id, PBI_HOST_ERROR, host_error, strlen(host_error), NULL, NULL, &out);
			steps++;
		}
		char last[256];
		snprintf(last, sizeof last, "after %d steps: %.*s", steps, (int)(out.json_len < 180 ? out.json_len : 180),
		         out.json ? out.json : "");
		check(out.op == OP_DONE && out.json != NULL && memmem(out.json, out.json_len, "no database", 11) != NULL,
		      "the session ends with the host's error", last);
		close_(id);
	}

	// A fault (a read of a PROT_NONE page) inside the library: the Go
	// runtime's signal handler must turn it into an error the call returns.
	if (hooks && test_panic != NULL) {
		char *msg = test_panic(PANIC_HERE, 0);
		check(msg != NULL && strstr(msg, "Go panic") != NULL, "a memory fault becomes an error", msg);
		if (msg != NULL)
			free_(msg);
	}

	char *doc = stats();
	check(doc != NULL && strstr(doc, "\"sessions\":0") != NULL, "pbi_stats after the session closed", doc);
	if (doc != NULL)
		free_(doc);

	printf("%s: %d failed\n", failures ? "FAIL" : "ok", failures);
	return failures;
}
