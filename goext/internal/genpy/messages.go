package genpy

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/bridge"
)

// shapes are the Python side's copy of the ops' JSON: per op value, the
// types of its request and answer ("" for none), and the types' definitions.
type shapes struct {
	comments map[int]string
	types    strings.Builder
	defined  map[reflect.Type]bool
}

// messages writes out bridge.Messages, which must name every op, and the
// JSON of the host's failures (bridge.HostErrorAnswer).
func messages(ops []constant) (*shapes, error) {
	s := &shapes{comments: map[int]string{}, defined: map[reflect.Type]bool{}}
	for _, m := range bridge.Messages() {
		var parts []string
		if m.Request != nil {
			parts = append(parts, "request "+s.python(reflect.TypeOf(m.Request)))
		}
		if m.Answer != nil {
			parts = append(parts, "answer "+s.python(reflect.TypeOf(m.Answer)))
		}
		if len(parts) > 0 {
			s.comments[int(m.Op)] = strings.Join(parts, ", ")
		} else {
			s.comments[int(m.Op)] = ""
		}
	}
	for _, c := range ops {
		if _, ok := s.comments[c.value]; !ok {
			return nil, fmt.Errorf("bridge.Messages has no entry for %s (%d)", c.name, c.value)
		}
	}
	s.python(reflect.TypeOf(bridge.HostErrorAnswer{})) // the answer with status HOST_ERROR
	return s, nil
}

var rawJSON = reflect.TypeOf(json.RawMessage{})

// python is the Python type of t, defining it first if it is a named
// struct or slice.
func (s *shapes) python(t reflect.Type) string {
	switch {
	case t == rawJSON || t.Kind() == reflect.Interface:
		return "Any"
	case t.Kind() == reflect.Pointer:
		return "Optional[" + s.python(t.Elem()) + "]"
	case t.Kind() == reflect.String:
		return "str"
	case t.Kind() == reflect.Int:
		return "int"
	case t.Kind() == reflect.Bool:
		return "bool"
	}
	if t.Kind() != reflect.Slice && t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("genpy: no Python type for %s", t))
	}
	if t.Name() == "" {
		return "List[" + s.python(t.Elem()) + "]"
	}
	if !s.defined[t] {
		s.defined[t] = true
		var def strings.Builder
		if t.Kind() == reflect.Slice {
			fmt.Fprintf(&def, "\n\n%s = List[%s]\n", t.Name(), s.python(t.Elem()))
		} else {
			s.class(&def, t)
		}
		s.types.WriteString(def.String())
	}
	return t.Name()
}

func (s *shapes) class(def *strings.Builder, t reflect.Type) {
	var fields []string
	total := true
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			panic(fmt.Sprintf("genpy: %s.%s has no JSON name", t.Name(), f.Name))
		}
		optional := strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,")
		total = total && !optional
		fields = append(fields, fmt.Sprintf("    %s: %s", name, s.python(f.Type)))
	}
	if total {
		fmt.Fprintf(def, "\n\nclass %s(TypedDict):\n", t.Name())
	} else {
		fmt.Fprintf(def, "\n\nclass %s(TypedDict, total=False):\n", t.Name())
	}
	def.WriteString(strings.Join(fields, "\n") + "\n")
}
