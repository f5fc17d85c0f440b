package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(204)
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		default:
			http.Error(w, "not ready yet", 503)
		}
	}))
	defer srv.Close()
	c := &http.Client{Timeout: 100 * time.Millisecond}
	if msg := check(c, srv.URL+"/ok"); msg != "" {
		t.Fatalf("ok: %s", msg)
	}
	if msg := check(c, srv.URL+"/bad"); !strings.Contains(msg, "HTTP 503") || !strings.Contains(msg, "not ready yet") {
		t.Fatalf("bad: %q", msg)
	}
	if msg := check(c, srv.URL+"/slow"); msg == "" {
		t.Fatal("slow: expected a timeout")
	}
	if msg := check(c, "ftp://x"); !strings.Contains(msg, "not an http") {
		t.Fatalf("scheme: %q", msg)
	}
}
