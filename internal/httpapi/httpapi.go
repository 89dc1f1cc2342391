// Package httpapi serves Dijk's HTTP endpoints for operators and
// orchestrators: Prometheus metrics, liveness and readiness.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configures the HTTP listener.
type Options struct {
	Addr     string
	Gatherer prometheus.Gatherer
	// Ready reports why the resolver cannot serve yet; nil means ready.
	Ready func() error
	// Detail adds lines to /readyz, e.g. the state of remote lists.
	Detail func() []string
	// SOC serves the console at / and the API under /api/; nil serves
	// neither. The endpoints above are more specific and stay outside it.
	SOC http.Handler
	// Pprof serves Go's profiler under /debug/pprof/.
	Pprof  bool
	Logger *slog.Logger
}

// Server is the running HTTP listener.
type Server struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

// Handler returns the endpoint mux, for tests and for embedding.
func Handler(opts Options) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	if opts.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		var detail []string
		if opts.Detail != nil {
			detail = opts.Detail()
		}
		if opts.Ready != nil {
			if err := opts.Ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "not ready: %v\n", err)
				for _, d := range detail {
					fmt.Fprintln(w, d)
				}
				return
			}
		}
		fmt.Fprintln(w, "ready")
		for _, d := range detail {
			fmt.Fprintln(w, d)
		}
	})
	if opts.SOC != nil {
		mux.Handle("/", opts.SOC)
	}
	return mux
}

// Start binds opts.Addr and serves in the background.
func Start(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen http %s: %w", opts.Addr, err)
	}
	s := &Server{
		srv: &http.Server{
			Handler:           Handler(opts),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       60 * time.Second,
			ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
		},
		addr: ln.Addr().String(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Error("http listener stopped", "addr", s.addr, "err", err)
		}
	}()
	endpoints := "/metrics /healthz /readyz"
	if opts.SOC != nil {
		endpoints += " / /api/v1/"
	}
	opts.Logger.Info("listening for HTTP", "addr", s.addr, "endpoints", endpoints)
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.addr }

// Shutdown stops the listener and waits for open requests.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}
