package genpy

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const root = "../../.."

// TestFresh fails while the checked-in Python file differs from what the
// Go definitions give: run `go generate ./goext/...`.
func TestFresh(t *testing.T) {
	want, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(filepath.Join(root, Output))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, want) {
		t.Fatalf("%s is stale: run `go generate ./goext/...`", Output)
	}
}

func TestContent(t *testing.T) {
	out, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"DONE = 0\n", "COPY_DATA = 4\n", "ON_BEFORE_VISIBLE = 13\n", "FORCE_END = 16\n",
		"OK = 0\n", "HOST_ERROR = 1\n", "NO_ANSWER = 2\n",
		"} pbi_request;\n", "struct ArrowArray {\n",
		"uint64_t pbi_start(char *doc, size_t n, char **errOut);\n",
		"int pbi_step(uint64_t id, int status, char *doc, size_t n, void *arr, void *schema, pbi_request *out);\n",
		"void pbi_close(uint64_t id);\n", "char *pbi_stats(void);\n",
		"int64_t pbi_json_dumps(uintptr_t values, uintptr_t dumps, uintptr_t out);\n",
		"int64_t pbi_walk_column(uintptr_t rows, int64_t column, int64_t kind, uintptr_t t, uintptr_t out);\n",
		"PANIC_HERE = 0\n", "PANIC_ENGINE = 1\n", "PANIC_STEP = 2\n",
		`API = ("pbi_start", "pbi_step", "pbi_close", "pbi_free", "pbi_stats", "pbi_json_dumps", "pbi_walk_column")` + "\n",
		"char *pbi_test_panic(int where, int op); // only in a library built with -tags pbitest\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("generated file lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "pbi_track") || strings.Contains(string(out), "#") && strings.Contains(string(out), "#ifndef") {
		t.Errorf("generated file has the library's internals:\n%s", out)
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{"Done": "DONE", "CopyData": "COPY_DATA", "OnBeforeVisible": "ON_BEFORE_VISIBLE"} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}
