//go:build linux

package main

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// capNetBindService is CAP_NET_BIND_SERVICE from linux/capability.h; the
// syscall package has no capability constants.
const capNetBindService = 10

// imageConfigPath is where the image keeps its configuration; commands
// taken from the Dockerfile get it replaced with the test's copy.
const imageConfigPath = "/etc/dijk/dijk.yaml"

// TestContainerBinary builds dijk with the Dockerfile's own go build command
// and runs it the way the image does: static binary, uid/gid from USER, the
// image's config, CAP_NET_BIND_SERVICE only, the HEALTHCHECK command as the
// readiness signal, SIGTERM to stop.
func TestContainerBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds dijk from scratch with the Dockerfile's flags; skipped in -short mode")
	}
	goTool := requireTool(t, "go", "golang-go")
	df := readDockerfile(t)
	const testVersion = "test-version"
	gb, err := findGoBuild(df, map[string]string{"VERSION": testVersion, "TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH})
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	if gb.env["CGO_ENABLED"] != "0" {
		t.Fatalf("%s: CGO_ENABLED=%q; the image has no libc, so the build must set CGO_ENABLED=0", gb.instr, gb.env["CGO_ENABLED"])
	}

	dir := containerTempDir(t)
	bin := filepath.Join(dir, "dijk")
	args, err := replaceGoBuildOutput(gb.args, bin)
	if err != nil {
		t.Fatalf("%s: %v", gb.instr, err)
	}
	// The image's build context has no .git (.dockerignore), so its build
	// stamps no VCS information; without this flag a repository owned by
	// another user makes go build fail here but not in Docker.
	build := exec.Command(goTool, append([]string{"build", "-buildvcs=false"}, args...)...)
	build.Dir = moduleRoot // the Dockerfile builds from the context root (COPY . .)
	build.Env = os.Environ()
	for k, v := range gb.env {
		build.Env = append(build.Env, k+"="+v) // the last duplicate wins in exec
	}
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", args, err, out)
	}

	t.Run("statically linked", func(t *testing.T) {
		if problems := elfDynamicParts(t, bin); len(problems) > 0 {
			t.Errorf("%s is not static, which distroless static needs: %v", bin, problems)
		}
	})

	t.Run("version comes from the build arg", func(t *testing.T) {
		out, err := exec.Command(bin, "version").CombinedOutput()
		if err != nil {
			t.Fatalf("dijk version: %v\n%s", err, out)
		}
		if want := "dijk " + testVersion + " "; !strings.HasPrefix(string(out), want) {
			t.Errorf("dijk version = %q, want it to start with %q", out, want)
		}
	})

	t.Run("serves as the image's user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			if os.Getenv("CI") == "true" {
				t.Fatal("running as the image's non-root user needs root; .ci/run runs as root")
			}
			t.Skip("needs root to run dijk as the image's non-root user (uid from the Dockerfile's USER); run the tests as root to cover it")
		}
		testServeAsImageUser(t, df, bin, dir)
	})
}

func testServeAsImageUser(t *testing.T, df *dockerfile, bin, dir string) {
	uid, gid, err := dockerUser(df)
	if err != nil {
		t.Fatal(err)
	}
	serveArgs := dockerCmd(t, df, "CMD", bin, dir)
	healthArgs := dockerCmd(t, df, "HEALTHCHECK", bin, dir)

	// The image's config, root-owned and world-readable as in the image.
	cfg, err := os.ReadFile(filepath.Join(moduleRoot, containerConfigPath))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dijk.yaml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	// The state directory is the image's WORKDIR, owned by the service user.
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, int(uid), int(gid)); err != nil {
		t.Fatal(err)
	}

	up := startFakeUpstream(t)
	dnsAddr, httpAddr := freePort(t), freePort(t)
	// Loopback and free ports instead of :53 and :9153, which the host may
	// use; the fake upstream instead of /etc/resolv.conf.
	env := []string{
		"DIJK_LISTEN_DNS=" + dnsAddr,
		"DIJK_LISTEN_HTTP=" + httpAddr,
		"DIJK_UPSTREAM_SERVERS=" + up.addr,
	}
	asImageUser := func(argv []string) *exec.Cmd {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env, cmd.Dir = env, state
		cmd.SysProcAttr = &syscall.SysProcAttr{
			// Empty Groups drops root's supplementary groups, as in the image.
			Credential: &syscall.Credential{Uid: uid, Gid: gid},
			// What the binary's file capability gives it in the image.
			AmbientCaps: []uintptr{capNetBindService},
		}
		return cmd
	}

	srv := asImageUser(serveArgs)
	var stdout, stderr syncBuffer
	srv.Stdout, srv.Stderr = &stdout, &stderr
	if err := srv.Start(); err != nil {
		t.Fatalf("starting %v as %d:%d: %v", serveArgs, uid, gid, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = srv.Process.Kill()
			<-exited
		}
	})

	// Ready when the image's own HEALTHCHECK command says so.
	var lastHealth string
	for try := 0; ; try++ {
		out, err := asImageUser(healthArgs).CombinedOutput()
		if err == nil {
			break
		}
		lastHealth = fmt.Sprintf("%v: %s", err, out)
		if try == 100 {
			t.Fatalf("healthcheck %v never passed; last: %s\ndijk stderr:\n%s", healthArgs, lastHealth, stderr.String())
		}
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("dijk exited before it was healthy: %v\nstderr:\n%s", err, stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}

	t.Run("process credentials", func(t *testing.T) {
		status := procStatus(t, srv.Process.Pid)
		ids := func(id uint32) string {
			return strings.Repeat(strconv.FormatUint(uint64(id), 10)+"\t", 3) + strconv.FormatUint(uint64(id), 10)
		}
		tests := []struct {
			name  string
			field string
			want  string
		}{
			{"real, effective, saved and fs uid", "Uid", ids(uid)},
			{"real, effective, saved and fs gid", "Gid", ids(gid)},
			{"no supplementary groups", "Groups", ""},
			{"only CAP_NET_BIND_SERVICE is effective", "CapEff", fmt.Sprintf("%016x", 1<<capNetBindService)},
			{"CAP_NET_BIND_SERVICE is ambient", "CapAmb", fmt.Sprintf("%016x", 1<<capNetBindService)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, ok := status[tt.field]
				if !ok {
					t.Fatalf("/proc/%d/status has no %s line", srv.Process.Pid, tt.field)
				}
				if got != tt.want {
					t.Errorf("%s: %q, want %q", tt.field, got, tt.want)
				}
			})
		}
	})

	t.Run("DNS over UDP", func(t *testing.T) {
		tests := []struct {
			name      string
			qname     string
			wantRcode int
			wantA     string
		}{
			{"DeepSeek is sinkholed", "chat.deepseek.com.", dns.RcodeNameError, ""},
			{"other names go to DIJK_UPSTREAM_SERVERS", "www.example.org.", dns.RcodeSuccess, "192.0.2.1"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := ask(t, "udp", dnsAddr, tt.qname, dns.TypeA, false)
				if r.Rcode != tt.wantRcode {
					t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.wantRcode])
				}
				var got string
				if len(r.Answer) == 1 {
					if a, ok := r.Answer[0].(*dns.A); ok {
						got = a.A.String()
					}
				}
				if got != tt.wantA {
					t.Errorf("answer %v, want A %q", r.Answer, tt.wantA)
				}
			})
		}
		if n := up.queries("chat.deepseek.com.", dns.TypeA); n != 0 {
			t.Errorf("upstream asked %d times for a blocked name", n)
		}
	})

	t.Run("SIGTERM exits 0", func(t *testing.T) {
		if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// A hang guard, not a timing assertion: shutdown drains for at most
		// shutdownGrace.
		select {
		case err := <-exited:
			stopped = true
			if err != nil {
				t.Fatalf("exit after SIGTERM: %v (want status 0)\nstderr:\n%s", err, stderr.String())
			}
		case <-time.After(shutdownGrace + 10*time.Second):
			t.Fatalf("dijk did not exit within %s of SIGTERM\nstderr:\n%s", shutdownGrace+10*time.Second, stderr.String())
		}
		// log.hits: stdout in the image's config: blocks reach `docker logs`.
		if !strings.Contains(stdout.String(), `"chat.deepseek.com"`) {
			t.Errorf("stdout lacks the hit for chat.deepseek.com:\n%s", stdout.String())
		}
	})
}

// replaceGoBuildOutput points go build's -o at out.
func replaceGoBuildOutput(args []string, out string) ([]string, error) {
	args = slices.Clone(args)
	for i, a := range args {
		switch {
		case (a == "-o" || a == "--o") && i+1 < len(args):
			args[i+1] = out
			return args, nil
		case strings.HasPrefix(a, "-o=") || strings.HasPrefix(a, "--o="):
			args[i] = "-o=" + out
			return args, nil
		}
	}
	return nil, fmt.Errorf("go build %v has no -o", args)
}

// dockerCmd returns the final stage's exec-form CMD (after ENTRYPOINT) or
// HEALTHCHECK command, with the image's binary and config paths mapped to
// the test's copies in dir.
func dockerCmd(t *testing.T, df *dockerfile, kind, bin, dir string) []string {
	t.Helper()
	in, ok := df.final().last(kind)
	if !ok {
		t.Fatalf("the Dockerfile's final stage has no %s", kind)
	}
	args := in.args
	if kind == "HEALTHCHECK" {
		_, rest := dockerFlags(args)
		_, args, _ = strings.Cut(rest, " ")
	}
	argv, isExec, err := execForm(args)
	if err != nil || !isExec {
		t.Fatalf("%s: want exec form (%v)", in, err)
	}
	if kind == "CMD" {
		ep, ok := df.final().last("ENTRYPOINT")
		if !ok {
			t.Fatal("the Dockerfile's final stage has no ENTRYPOINT")
		}
		entry, isExec, err := execForm(ep.args)
		if err != nil || !isExec {
			t.Fatalf("%s: want exec form (%v)", ep, err)
		}
		argv = append(entry, argv...)
	}
	image, err := dockerBinaryPath(df)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range argv {
		switch a {
		case image:
			argv[i] = bin
		case imageConfigPath:
			argv[i] = filepath.Join(dir, "dijk.yaml")
		}
	}
	if len(argv) == 0 || argv[0] != bin {
		t.Fatalf("%s does not run the image's binary %s: %v", in, image, argv)
	}
	return argv
}

// elfDynamicParts lists what makes an executable depend on a dynamic loader.
func elfDynamicParts(t *testing.T, path string) []string {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var problems []string
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			problems = append(problems, "PT_INTERP program header")
		case elf.PT_DYNAMIC:
			problems = append(problems, "PT_DYNAMIC program header")
		}
	}
	if f.Section(".dynamic") != nil {
		problems = append(problems, ".dynamic section")
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		problems = append(problems, fmt.Sprintf("needs %v", libs))
	}
	return problems
}

// procStatus reads /proc/PID/status into field → value, whitespace runs in
// values folded to one tab.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			status[k] = strings.Join(strings.Fields(v), "\t")
		}
	}
	return status
}

// containerTempDir is a t.TempDir the image's user can traverse: testing
// creates it and its parent 0700.
func containerTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for d := filepath.Dir(filepath.Dir(dir)); ; d = filepath.Dir(d) {
		info, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm()&0o001 == 0 {
			t.Fatalf("%s is not searchable by other users, so the image's user cannot reach the test binary; set TMPDIR elsewhere", d)
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	return dir
}
