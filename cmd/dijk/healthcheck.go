package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheckCommand asks the running resolver's /healthz; container images
// have no curl, so the binary checks itself. Exit 0 when healthy, 1 otherwise.
func healthcheckCommand(args, environ []string, stderr io.Writer) int {
	cfg, _, ok, err := loadConfig("healthcheck", args, environ, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "dijk healthcheck: %v\n", err)
		return exitFail
	}
	if !ok {
		return exitOK
	}
	if cfg.Listen.HTTP == "" {
		fmt.Fprintln(stderr, "dijk healthcheck: listen.http is empty, nothing to check")
		return exitFail
	}
	url := "http://" + dialableAddr(cfg.Listen.HTTP) + "/healthz"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "dijk healthcheck: %v\n", err)
		return exitFail
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "dijk healthcheck: %v\n", err)
		return exitFail
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "dijk healthcheck: %s answered %s\n", url, resp.Status)
		return exitFail
	}
	return exitOK
}

// dialableAddr turns a listen address into one a client can connect to: a
// wildcard or empty host means "this machine".
func dialableAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
