// Command lab-healthcheck is the lab's container health probe: a static binary with
// no dependencies, bind-mounted (or copied) at /lab-healthcheck into images that have
// no shell or HTTP client.
//
//	lab-healthcheck URL [URL...]
//
// Each URL gets one HTTP GET with a 3 s timeout (LAB_HEALTHCHECK_TIMEOUT, a Go
// duration, overrides it). Exit 0 when every answer is 2xx; otherwise print what was
// seen for each failing URL on stderr and exit 1. Usage errors exit 2.
package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

const defaultTimeout = 3 * time.Second

func timeout() time.Duration {
	if v := os.Getenv("LAB_HEALTHCHECK_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d
		}
	}
	return defaultTimeout
}

// check GETs one URL and returns "" when healthy, else a one-line description.
func check(client *http.Client, raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("%s: not an http(s) URL", raw)
	}
	req, err := http.NewRequest(http.MethodGet, raw, nil)
	if err != nil {
		return fmt.Sprintf("%s: %v", raw, err)
	}
	req.Header.Set("User-Agent", "lab-healthcheck")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Sprintf("%s: %v", raw, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet := strings.Join(strings.Fields(string(body)), " ")
		if len(snippet) > 200 {
			snippet = snippet[:200] + "..."
		}
		return fmt.Sprintf("%s: HTTP %d after %s: %s", raw, resp.StatusCode,
			time.Since(start).Round(time.Millisecond), snippet)
	}
	return ""
}

func main() {
	args := os.Args[1:]
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(os.Stderr, "usage: lab-healthcheck URL [URL...]  (exit 0 when every URL answers 2xx to GET within 3 s)")
		os.Exit(2)
	}
	client := &http.Client{Timeout: timeout()}
	failed := 0
	for _, raw := range args {
		if msg := check(client, raw); msg != "" {
			fmt.Fprintln(os.Stderr, "unhealthy:", msg)
			failed++
		}
	}
	if failed > 0 {
		os.Exit(1)
	}
}
