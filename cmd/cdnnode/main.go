// Command cdnnode is the edge cache node, its config checker, its purge
// client, its load generator and the demo origin it is tried out against.
//
//	cdnnode [serve] -c config.toml   run the node (serve is the default)
//	cdnnode check -c config.toml     validate a config and exit
//	cdnnode purge [flags] URL...     purge through a node's admin API (see cdnnode purge -h)
//	cdnnode loadtest [flags] URL     load-test a node (see cdnnode loadtest -h)
//	cdnnode origin --listen ADDR     run the demo origin
//	cdnnode version                  print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cdnnode/cdnnode/config"
	"github.com/cdnnode/cdnnode/demoorigin"
	"github.com/cdnnode/cdnnode/node"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one subcommand and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args, stderr)
	case "check":
		err = check(args, stdout)
	case "purge":
		err = runPurge(args, stdout, stderr)
	case "loadtest":
		err = runLoadtest(args, stdout, stderr)
	case "origin":
		err = runOrigin(args, stderr)
	case "version":
		fmt.Fprintln(stdout, "cdnnode", version)
	default:
		err = fmt.Errorf("unknown command %q (want serve, check, purge, loadtest, origin or version)", cmd)
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "cdnnode:", err)
		return 1
	}
	return 0
}

// configFlag parses the -c flag of serve and check.
func configFlag(name string, args []string, out io.Writer) (string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	path := fs.String("c", "config.toml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%s: unexpected arguments %q", name, fs.Args())
	}
	return *path, nil
}

// check validates a configuration file.
func check(args []string, stdout io.Writer) error {
	path, err := configFlag("check", args, stdout)
	if err != nil {
		return err
	}
	if _, err := config.Load(path); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return nil
}

// serve runs the node until SIGTERM (drain, exit 0) or SIGINT (exit at once).
func serve(args []string, stderr io.Writer) error {
	path, err := configFlag("serve", args, stderr)
	if err != nil {
		return err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	log, err := node.NewLogger(cfg.Log, stderr)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	n, err := node.New(cfg, log)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	if err := n.Start(); err != nil {
		return err
	}
	if s := <-sigs; s == syscall.SIGINT {
		log.Info("interrupted: stopping now")
		n.Close()
		return nil
	}
	grace := cfg.Server.GracePeriod.D()
	log.Info("terminating: draining in-flight requests", "grace", grace.String())
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		log.Warn("grace period over: cut remaining requests", "err", err)
	}
	log.Info("stopped")
	return nil
}

// runOrigin runs the demo origin until SIGTERM or SIGINT.
func runOrigin(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("origin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8081", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("origin: %w", err)
	}
	srv := &http.Server{Handler: demoorigin.New(log), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info("demo origin serving", "addr", l.Addr().String())
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("origin: %w", err)
	}
	return nil
}
