package bridge

import (
	"context"
	"errors"
	"testing"
)

// TestForce checks that a force-execute section is framed by its two
// requests, the end saying whether the section failed.
func TestForce(t *testing.T) {
	for _, c := range []struct {
		name    string
		err     error
		wantEnd string
	}{
		{"success", nil, `{}`},
		{"failure", errors.New("boom"), `{"error":"boom"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &Session{calls: make(chan Call), answers: make(chan Answer), closed: make(chan struct{})}
			h := &host{s: s}
			ran := false
			done := make(chan error, 1)
			go func() {
				done <- h.Force(context.Background(), func(context.Context) error {
					ran = true
					return c.err
				})
			}()
			if r := s.Step(Answer{}); r.Op != OpForceBegin || r.JSON != nil {
				t.Fatalf("first request %d %s, want OpForceBegin without JSON", r.Op, r.JSON)
			}
			r := s.Step(Answer{})
			if r.Op != OpForceEnd || string(r.JSON) != c.wantEnd {
				t.Fatalf("second request %d %s, want OpForceEnd %s", r.Op, r.JSON, c.wantEnd)
			}
			s.answers <- Answer{} // not Step, which would wait for a further request
			if err := <-done; !errors.Is(err, c.err) || !ran {
				t.Fatalf("Force returned %v (section ran: %v), want %v", err, ran, c.err)
			}
		})
	}
}
