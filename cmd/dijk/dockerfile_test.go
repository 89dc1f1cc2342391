package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/dijk-dns/dijk/internal/config"
)

// moduleRoot is the repository root as seen from this package's directory,
// where `go test` runs.
const moduleRoot = "../.."

// containerConfigPath is the configuration the Dockerfile bakes into the image.
const containerConfigPath = "config/container/dijk.yaml"

// dockerInstruction is one Dockerfile instruction, continuations joined and
// comment lines dropped, as the Docker parser sees it.
type dockerInstruction struct {
	line int    // line of the instruction's first line, for messages
	cmd  string // upper case: FROM, RUN, ...
	args string // the rest, trimmed
}

func (in dockerInstruction) String() string {
	args := in.args
	if len(args) > 100 {
		args = args[:97] + "..." // a joined RUN can run to hundreds of characters
	}
	return fmt.Sprintf("Dockerfile line %d: %s %s", in.line, in.cmd, args)
}

// dockerStage is one FROM and the instructions after it.
type dockerStage struct {
	from   dockerInstruction
	name   string // the AS name, "" if none
	instrs []dockerInstruction
}

type dockerfile struct {
	globalArgs map[string]string // ARGs before the first FROM, with their defaults
	stages     []dockerStage
}

// parseDockerfile splits a Dockerfile into stages. It handles what this
// repository's Dockerfile uses: comments, backslash continuations, ARG
// before FROM. Heredocs and the escape directive are refused rather than
// misread.
func parseDockerfile(text string) (*dockerfile, error) {
	var instrs []dockerInstruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		trimmed := strings.TrimSpace(raw)
		if strings.HasPrefix(trimmed, "#") {
			if start == 0 && strings.HasPrefix(strings.ReplaceAll(strings.ToLower(trimmed), " ", ""), "#escape=") {
				return nil, fmt.Errorf("line %d: the escape directive is not supported by this parser", n)
			}
			// Docker drops comment lines even inside a continued instruction.
			continue
		}
		if trimmed == "" {
			continue // also inside continuations, as Docker does
		}
		if start == 0 {
			start = n
		}
		body := strings.TrimRight(raw, " \t")
		if strings.HasSuffix(body, `\`) {
			cur.WriteString(strings.TrimSuffix(body, `\`))
			continue
		}
		cur.WriteString(body)
		joined := strings.TrimSpace(cur.String())
		cmd, args, _ := strings.Cut(joined, " ")
		if strings.Contains(args, "<<") && (strings.EqualFold(cmd, "RUN") || strings.EqualFold(cmd, "COPY")) {
			return nil, fmt.Errorf("line %d: heredocs are not supported by this parser", start)
		}
		instrs = append(instrs, dockerInstruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
		start = 0
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if start != 0 {
		return nil, fmt.Errorf("line %d: the last instruction ends in a line continuation", start)
	}

	df := &dockerfile{globalArgs: map[string]string{}}
	for _, in := range instrs {
		switch {
		case in.cmd == "FROM":
			_, rest := dockerFlags(in.args)
			words := strings.Fields(rest)
			st := dockerStage{from: in}
			if len(words) == 3 && strings.EqualFold(words[1], "AS") {
				st.name = words[2]
			} else if len(words) != 1 {
				return nil, fmt.Errorf("%s: want FROM [--flags] IMAGE [AS NAME]", in)
			}
			df.stages = append(df.stages, st)
		case len(df.stages) == 0:
			if in.cmd != "ARG" {
				return nil, fmt.Errorf("%s: only ARG may come before the first FROM", in)
			}
			name, def, _ := strings.Cut(in.args, "=")
			df.globalArgs[name] = def
		default:
			last := &df.stages[len(df.stages)-1]
			last.instrs = append(last.instrs, in)
		}
	}
	if len(df.stages) == 0 {
		return nil, errors.New("no FROM instruction")
	}
	return df, nil
}

// readDockerfile parses the repository's Dockerfile.
func readDockerfile(t *testing.T) *dockerfile {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(moduleRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df, err := parseDockerfile(string(text))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	return df
}

func (df *dockerfile) final() dockerStage { return df.stages[len(df.stages)-1] }

// image is the stage's base image with global ARGs expanded, as the FROM
// line is expanded by Docker.
func (st dockerStage) image(df *dockerfile) string {
	_, rest := dockerFlags(st.from.args)
	return expandShellVars(strings.Fields(rest)[0], func(name string) (string, bool) {
		v, ok := df.globalArgs[name]
		return v, ok
	})
}

// last returns the stage's last instruction of kind cmd: for USER,
// ENTRYPOINT, HEALTHCHECK the last one is the one in force.
func (st dockerStage) last(cmd string) (dockerInstruction, bool) {
	for i := len(st.instrs) - 1; i >= 0; i-- {
		if st.instrs[i].cmd == cmd {
			return st.instrs[i], true
		}
	}
	return dockerInstruction{}, false
}

func (st dockerStage) all(cmd string) []dockerInstruction {
	var out []dockerInstruction
	for _, in := range st.instrs {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// dockerFlags splits leading --name=value flags (FROM --platform, COPY
// --from/--chown, HEALTHCHECK --interval) off an instruction's arguments.
func dockerFlags(args string) (map[string]string, string) {
	flags := map[string]string{}
	rest := strings.TrimSpace(args)
	for strings.HasPrefix(rest, "--") {
		word, after, _ := strings.Cut(rest, " ")
		name, value, _ := strings.Cut(strings.TrimPrefix(word, "--"), "=")
		flags[name] = value
		rest = strings.TrimSpace(after)
	}
	return flags, rest
}

// execForm parses a JSON exec-form command. ok is false for shell form,
// which cannot work in the final image: distroless static has no shell.
func execForm(args string) (argv []string, ok bool, err error) {
	if !strings.HasPrefix(strings.TrimSpace(args), "[") {
		return nil, false, nil
	}
	if err := json.Unmarshal([]byte(args), &argv); err != nil {
		return nil, false, fmt.Errorf("exec form %s: %w", args, err)
	}
	return argv, true, nil
}

// copyInstr is a COPY: its --from stage (or "" for the build context), its
// --chown, its sources and destination.
type copyInstr struct {
	from, chown string
	srcs        []string
	dest        string
}

func parseCopy(in dockerInstruction) (copyInstr, error) {
	flags, rest := dockerFlags(in.args)
	words, ok, err := execForm(rest)
	if err != nil {
		return copyInstr{}, err
	}
	if !ok {
		words = strings.Fields(rest)
	}
	if len(words) < 2 {
		return copyInstr{}, fmt.Errorf("%s: want sources and a destination", in)
	}
	return copyInstr{from: flags["from"], chown: flags["chown"], srcs: words[:len(words)-1], dest: words[len(words)-1]}, nil
}

// shellToken is a word or a control operator (&&, ||, ;, |) of a shell
// command line.
type shellToken struct {
	text string
	op   bool
}

// shellWords splits a POSIX shell command line into words and control
// operators, removing quotes and expanding $NAME / ${NAME} / ${NAME:-default}
// outside single quotes with lookup. It covers what Dockerfile RUN lines
// use; an unterminated quote is an error.
func shellWords(line string, lookup func(string) (string, bool)) ([]shellToken, error) {
	var (
		tokens  []shellToken
		word    strings.Builder
		inWord  bool
		quote   rune // 0, '\'' or '"'
		runes   = []rune(line)
		endWord = func() {
			if inWord {
				tokens = append(tokens, shellToken{text: word.String()})
			}
			word.Reset()
			inWord = false
		}
	)
	for i := 0; i < len(runes); i++ {
		c := runes[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				word.WriteRune(c)
			}
		case c == '\\':
			if i+1 >= len(runes) {
				return nil, errors.New("trailing backslash")
			}
			next := runes[i+1]
			// Inside double quotes a backslash only escapes $ ` " \.
			if quote == '"' && !strings.ContainsRune("$`\"\\", next) {
				word.WriteRune(c)
				inWord = true
				continue
			}
			word.WriteRune(next)
			inWord = true
			i++
		case c == '$':
			if n := shellVarLen(runes[i+1:]); n == 0 {
				word.WriteRune(c)
			} else {
				word.WriteString(expandShellVars("$"+string(runes[i+1:i+1+n]), lookup))
				i += n
			}
			inWord = true
		case quote == '"':
			if c == '"' {
				quote = 0
			} else {
				word.WriteRune(c)
			}
		case c == '\'' || c == '"':
			quote = c
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			endWord()
		case c == '&' || c == '|' || c == ';':
			endWord()
			op := string(c)
			if c != ';' && i+1 < len(runes) && runes[i+1] == c {
				op += string(c)
				i++
			}
			tokens = append(tokens, shellToken{text: op, op: true})
		default:
			word.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	endWord()
	return tokens, nil
}

// shellVarLen measures the variable reference after a '$': NAME or {...};
// 0 means the '$' is literal.
func shellVarLen(rs []rune) int {
	if len(rs) > 0 && rs[0] == '{' {
		for i := 1; i < len(rs); i++ {
			if rs[i] == '}' {
				return i + 1
			}
		}
		return 0
	}
	n := 0
	for n < len(rs) && (rs[n] == '_' || rs[n] >= 'a' && rs[n] <= 'z' || rs[n] >= 'A' && rs[n] <= 'Z' || n > 0 && rs[n] >= '0' && rs[n] <= '9') {
		n++
	}
	return n
}

// expandShellVars expands $NAME, ${NAME}, ${NAME:-default} and
// ${NAME-default}; an unset variable is empty, as in the shell.
func expandShellVars(s string, lookup func(string) (string, bool)) string {
	return os.Expand(s, func(ref string) string {
		if name, def, ok := strings.Cut(ref, ":-"); ok {
			if v, set := lookup(name); set && v != "" {
				return v
			}
			return def
		}
		if name, def, ok := strings.Cut(ref, "-"); ok {
			if v, set := lookup(name); set {
				return v
			}
			return def
		}
		v, _ := lookup(ref)
		return v
	})
}

// dockerGoBuild is the `go build` command of the Dockerfile's build stage,
// expanded as the build would run it with the given --build-arg values.
type dockerGoBuild struct {
	instr dockerInstruction
	stage string            // name of the stage holding it
	env   map[string]string // stage ENV plus the command's own VAR=value prefixes
	args  []string          // after "go build"
}

// findGoBuild locates the single RUN … go build … in the Dockerfile. ARGs
// are scoped to their stage, as in Docker: a global ARG is not visible in
// RUN unless the stage declares it again.
func findGoBuild(df *dockerfile, buildArgs map[string]string) (dockerGoBuild, error) {
	var found []dockerGoBuild
	for _, st := range df.stages {
		scope := map[string]string{}
		stageEnv := map[string]string{}
		lookup := func(name string) (string, bool) {
			v, ok := scope[name]
			return v, ok
		}
		for _, in := range st.instrs {
			switch in.cmd {
			case "ARG":
				name, def, hasDef := strings.Cut(in.args, "=")
				if v, ok := buildArgs[name]; ok {
					scope[name] = v
				} else if hasDef {
					scope[name] = expandShellVars(def, lookup)
				} else if _, ok := scope[name]; !ok {
					scope[name] = ""
				}
			case "ENV":
				words, err := shellWords(in.args, lookup)
				if err != nil {
					return dockerGoBuild{}, fmt.Errorf("%s: %w", in, err)
				}
				for _, w := range words {
					k, v, ok := strings.Cut(w.text, "=")
					if !ok {
						return dockerGoBuild{}, fmt.Errorf("%s: only ENV KEY=VALUE is supported", in)
					}
					scope[k], stageEnv[k] = v, v
				}
			case "RUN":
				tokens, err := shellWords(in.args, lookup)
				if err != nil {
					return dockerGoBuild{}, fmt.Errorf("%s: %w", in, err)
				}
				var segment []string
				for i := 0; i <= len(tokens); i++ {
					if i < len(tokens) && !tokens[i].op {
						segment = append(segment, tokens[i].text)
						continue
					}
					if gb, ok := goBuildSegment(segment); ok {
						gb.instr, gb.stage = in, st.name
						for k, v := range stageEnv {
							if _, set := gb.env[k]; !set {
								gb.env[k] = v
							}
						}
						found = append(found, gb)
					}
					segment = nil
				}
			}
		}
	}
	switch len(found) {
	case 0:
		return dockerGoBuild{}, errors.New("no RUN instruction runs go build")
	case 1:
		return found[0], nil
	default:
		return dockerGoBuild{}, fmt.Errorf("%d go build commands (%s, %s, ...); the tests expect one", len(found), found[0].instr, found[1].instr)
	}
}

var envAssignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// goBuildSegment recognises "[VAR=value ...] go build ARGS" in one simple
// command.
func goBuildSegment(words []string) (dockerGoBuild, bool) {
	env := map[string]string{}
	i := 0
	for ; i < len(words) && envAssignment.MatchString(words[i]); i++ {
		k, v, _ := strings.Cut(words[i], "=")
		env[k] = v
	}
	if len(words)-i < 2 || words[i] != "go" || words[i+1] != "build" {
		return dockerGoBuild{}, false
	}
	return dockerGoBuild{env: env, args: slices.Clone(words[i+2:])}, true
}

// flag returns the value of a go build flag given as "-name value",
// "-name=value" or with two dashes. A boolean flag given bare reads "true".
func (gb dockerGoBuild) flag(name string, boolean bool) (string, bool) {
	for i, a := range gb.args {
		if !strings.HasPrefix(a, "-") {
			break // the package arguments start here
		}
		a = "-" + strings.TrimLeft(a, "-")
		if v, ok := strings.CutPrefix(a, "-"+name+"="); ok {
			return v, true
		}
		if a != "-"+name {
			continue
		}
		if boolean {
			return "true", true
		}
		if i+1 < len(gb.args) {
			return gb.args[i+1], true
		}
	}
	return "", false
}

// dockerVersionArg is the --build-arg VERSION the checks build with, so they
// see whether the version reaches the linker.
const dockerVersionArg = "9.8.7-dockerfile-test"

// dockerCheck is one property of the Dockerfile. Checks return an error
// rather than failing the test so that TestDockerfileChecksCatchMistakes can
// show that each one fails on a broken Dockerfile.
type dockerCheck struct {
	name  string
	check func(df *dockerfile) error
}

func dockerChecks() []dockerCheck {
	return []dockerCheck{
		{"multi-stage build", func(df *dockerfile) error {
			if len(df.stages) < 2 {
				return fmt.Errorf("%d FROM instructions, want a build stage and a runtime stage", len(df.stages))
			}
			return nil
		}},
		{"final image is distroless static or scratch", func(df *dockerfile) error {
			img := df.final().image(df)
			if img == "scratch" || strings.HasPrefix(img, "gcr.io/distroless/static") {
				return nil
			}
			return fmt.Errorf("final FROM %s, want scratch or gcr.io/distroless/static*", img)
		}},
		{"go build is static, trimmed and stamps the version", func(df *dockerfile) error {
			gb, err := findGoBuild(df, map[string]string{"VERSION": dockerVersionArg, "TARGETOS": "linux", "TARGETARCH": "amd64"})
			if err != nil {
				return err
			}
			var errs []error
			if gb.env["CGO_ENABLED"] != "0" {
				errs = append(errs, fmt.Errorf("%s: CGO_ENABLED=%q, want 0 (the image has no libc)", gb.instr, gb.env["CGO_ENABLED"]))
			}
			if v, ok := gb.flag("trimpath", true); !ok || v != "true" {
				errs = append(errs, fmt.Errorf("%s: no -trimpath", gb.instr))
			}
			ldflags, _ := gb.flag("ldflags", false)
			if !slices.Contains(strings.Fields(ldflags), "main.version="+dockerVersionArg) || !strings.Contains(ldflags, "-X main.version=") {
				errs = append(errs, fmt.Errorf("%s: -ldflags %q does not set -X main.version from the VERSION build arg", gb.instr, ldflags))
			}
			if gb.stage == "" || gb.stage == df.final().name || gb.instr.line > df.final().from.line {
				errs = append(errs, fmt.Errorf("%s: go build must run in a named build stage, not the final one", gb.instr))
			}
			return errors.Join(errs...)
		}},
		{"runs as a numeric non-root user", func(df *dockerfile) error {
			// Numeric, because Kubernetes runAsNonRoot cannot verify a
			// user name.
			uid, gid, err := dockerUser(df)
			if err != nil {
				return err
			}
			if uid == 0 || gid == 0 {
				return fmt.Errorf("USER %d:%d is root", uid, gid)
			}
			return nil
		}},
		{"exposes DNS on UDP and TCP and HTTP", func(df *dockerfile) error {
			exposed := dockerExposed(df)
			var missing []string
			for _, p := range []string{"53/udp", "53/tcp", "9153/tcp"} {
				if !exposed[p] {
					missing = append(missing, p)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("EXPOSE lacks %v", missing)
			}
			return nil
		}},
		{"exposes the container config's listen ports", func(df *dockerfile) error {
			cfg, err := loadContainerConfig()
			if err != nil {
				return err
			}
			exposed := dockerExposed(df)
			var missing []string
			want := []string{cfg.Listen.HTTP + "/tcp"}
			for _, a := range cfg.Listen.DNS {
				want = append(want, a+"/udp", a+"/tcp")
			}
			for _, w := range want {
				addr, proto, _ := strings.Cut(w, "/")
				_, port, err := net.SplitHostPort(addr)
				if err != nil {
					return err
				}
				if !exposed[port+"/"+proto] {
					missing = append(missing, port+"/"+proto)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("%s listens on %v, which EXPOSE lacks", containerConfigPath, missing)
			}
			return nil
		}},
		{"config is copied to /etc/dijk/dijk.yaml", func(df *dockerfile) error {
			for _, in := range df.final().all("COPY") {
				c, err := parseCopy(in)
				if err != nil {
					return err
				}
				if c.dest == "/etc/dijk/dijk.yaml" && c.from == "" && slices.Equal(c.srcs, []string{containerConfigPath}) {
					return nil
				}
			}
			return fmt.Errorf("final stage has no COPY %s /etc/dijk/dijk.yaml", containerConfigPath)
		}},
		{"state volume is /var/lib/dijk, owned by the service user", func(df *dockerfile) error {
			var vols []string
			for _, in := range df.final().all("VOLUME") {
				v, ok, err := execForm(in.args)
				if err != nil {
					return err
				}
				if !ok {
					v = strings.Fields(in.args)
				}
				vols = append(vols, v...)
			}
			if !slices.Contains(vols, "/var/lib/dijk") {
				return fmt.Errorf("VOLUME %v, want /var/lib/dijk", vols)
			}
			// A new named volume copies the image directory's owner, so the
			// directory must belong to USER or the service cannot write.
			uid, gid, err := dockerUser(df)
			if err != nil {
				return err
			}
			for _, in := range df.final().all("COPY") {
				c, err := parseCopy(in)
				if err != nil {
					return err
				}
				if strings.TrimSuffix(c.dest, "/") == "/var/lib/dijk" {
					if c.chown != fmt.Sprintf("%d:%d", uid, gid) {
						return fmt.Errorf("%s: --chown=%q, want %d:%d (USER)", in, c.chown, uid, gid)
					}
					return nil
				}
			}
			return errors.New("nothing creates /var/lib/dijk in the final stage")
		}},
		{"entrypoint is the binary go build produced", func(df *dockerfile) error {
			bin, err := dockerBinaryPath(df)
			if err != nil {
				return err
			}
			in, ok := df.final().last("ENTRYPOINT")
			if !ok {
				return errors.New("final stage has no ENTRYPOINT")
			}
			argv, exec, err := execForm(in.args)
			switch {
			case err != nil:
				return err
			case !exec:
				return fmt.Errorf("%s: shell form needs /bin/sh, which the image lacks", in)
			case len(argv) == 0 || argv[0] != bin:
				return fmt.Errorf("%s: want %s, the binary copied from the build stage", in, bin)
			}
			return nil
		}},
		{"healthcheck runs dijk healthcheck with the image's config", func(df *dockerfile) error {
			bin, err := dockerBinaryPath(df)
			if err != nil {
				return err
			}
			in, ok := df.final().last("HEALTHCHECK")
			if !ok {
				return errors.New("final stage has no HEALTHCHECK")
			}
			_, rest := dockerFlags(in.args)
			kind, cmd, _ := strings.Cut(rest, " ")
			if !strings.EqualFold(kind, "CMD") {
				return fmt.Errorf("%s: want HEALTHCHECK [options] CMD ...", in)
			}
			argv, exec, err := execForm(cmd)
			switch {
			case err != nil:
				return err
			case !exec:
				return fmt.Errorf("%s: shell form needs /bin/sh, which the image lacks", in)
			case len(argv) < 2 || argv[0] != bin || argv[1] != "healthcheck":
				return fmt.Errorf("%s: want %s healthcheck ...", in, bin)
			}
			// The check must read the listen address the server uses.
			if i := slices.Index(argv, "--config"); i < 0 || i+1 >= len(argv) || argv[i+1] != "/etc/dijk/dijk.yaml" {
				return fmt.Errorf("%s: want --config /etc/dijk/dijk.yaml", in)
			}
			return nil
		}},
	}
}

// dockerUser returns the final stage's numeric USER.
func dockerUser(df *dockerfile) (uid, gid uint32, err error) {
	in, ok := df.final().last("USER")
	if !ok {
		return 0, 0, errors.New("final stage has no USER: it would run as root")
	}
	u, g, hasGroup := strings.Cut(in.args, ":")
	if !hasGroup {
		// Without a group Docker uses the user's primary group from
		// /etc/passwd; spell it out so it cannot be root's.
		return 0, 0, fmt.Errorf("%s: want USER UID:GID", in)
	}
	uid64, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: user %q is not numeric", in, u)
	}
	gid64, err := strconv.ParseUint(g, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: group %q is not numeric", in, g)
	}
	return uint32(uid64), uint32(gid64), nil
}

// dockerExposed returns the final stage's exposed ports as "PORT/PROTO".
func dockerExposed(df *dockerfile) map[string]bool {
	exposed := map[string]bool{}
	for _, in := range df.final().all("EXPOSE") {
		for _, p := range strings.Fields(in.args) {
			if !strings.Contains(p, "/") {
				p += "/tcp" // Docker's default protocol
			}
			exposed[strings.ToLower(p)] = true
		}
	}
	return exposed
}

// dockerBinaryPath follows go build's -o output into the final stage.
func dockerBinaryPath(df *dockerfile) (string, error) {
	gb, err := findGoBuild(df, nil)
	if err != nil {
		return "", err
	}
	out, ok := gb.flag("o", false)
	if !ok {
		return "", fmt.Errorf("%s: go build has no -o", gb.instr)
	}
	for _, in := range df.final().all("COPY") {
		c, err := parseCopy(in)
		if err != nil {
			return "", err
		}
		if c.from == gb.stage && slices.Contains(c.srcs, out) {
			return c.dest, nil
		}
	}
	return "", fmt.Errorf("the final stage does not COPY --from=%s %s", gb.stage, out)
}

func loadContainerConfig() (*config.Config, error) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	if err := fs.Parse([]string{"--config", filepath.Join(moduleRoot, containerConfigPath)}); err != nil {
		return nil, err
	}
	return config.Load(fs, nil)
}

func TestDockerfile(t *testing.T) {
	df := readDockerfile(t)
	for _, c := range dockerChecks() {
		t.Run(c.name, func(t *testing.T) {
			if err := c.check(df); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestDockerfileChecksCatchMistakes breaks the real Dockerfile in one place
// per case and expects the matching check to notice: a check that passes on
// anything protects nothing.
func TestDockerfileChecksCatchMistakes(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(moduleRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		old, new  string
		wantCheck string // the check that must fail
	}{
		{"single stage", "FROM ${BASE_IMAGE}\n", "", "multi-stage build"},
		{"debian runtime image", "ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot", "ARG BASE_IMAGE=debian:bookworm-slim", "final image is distroless static or scratch"},
		{"cgo enabled", "CGO_ENABLED=0", "CGO_ENABLED=1", "go build is static, trimmed and stamps the version"},
		{"no trimpath", "-trimpath ", "", "go build is static, trimmed and stamps the version"},
		{"version not stamped", "-X main.version=${VERSION}", "", "go build is static, trimmed and stamps the version"},
		{"version fixed", "main.version=${VERSION}", "main.version=dev", "go build is static, trimmed and stamps the version"},
		{"VERSION not declared in the build stage", "ARG VERSION=dev\nARG TARGETOS", "ARG TARGETOS", "go build is static, trimmed and stamps the version"},
		{"root user", "USER 65532:65532", "USER 0:0", "runs as a numeric non-root user"},
		{"named user", "USER 65532:65532", "USER nonroot:nonroot", "runs as a numeric non-root user"},
		{"no USER", "USER 65532:65532\n", "", "runs as a numeric non-root user"},
		{"no UDP", "EXPOSE 53/udp 53/tcp 9153/tcp", "EXPOSE 53/tcp 9153/tcp", "exposes DNS on UDP and TCP and HTTP"},
		{"no metrics port", "EXPOSE 53/udp 53/tcp 9153/tcp", "EXPOSE 53/udp 53/tcp", "exposes the container config's listen ports"},
		{"config elsewhere", "/etc/dijk/dijk.yaml\nCOPY --from=build --chown", "/etc/dijk.yaml\nCOPY --from=build --chown", "config is copied to /etc/dijk/dijk.yaml"},
		{"no volume", "VOLUME /var/lib/dijk\n", "", "state volume is /var/lib/dijk, owned by the service user"},
		{"state owned by root", "--chown=65532:65532 /out/state", "/out/state", "state volume is /var/lib/dijk, owned by the service user"},
		{"shell-form entrypoint", `ENTRYPOINT ["/usr/local/bin/dijk"]`, `ENTRYPOINT /usr/local/bin/dijk`, "entrypoint is the binary go build produced"},
		{"entrypoint elsewhere", `ENTRYPOINT ["/usr/local/bin/dijk"]`, `ENTRYPOINT ["/dijk"]`, "entrypoint is the binary go build produced"},
		{"healthcheck checks nothing", `CMD ["/usr/local/bin/dijk", "healthcheck", "--config", "/etc/dijk/dijk.yaml"]`, `CMD ["/usr/local/bin/dijk", "version"]`, "healthcheck runs dijk healthcheck with the image's config"},
		{"healthcheck without the config", `"healthcheck", "--config", "/etc/dijk/dijk.yaml"]`, `"healthcheck"]`, "healthcheck runs dijk healthcheck with the image's config"},
		{"no healthcheck", "HEALTHCHECK", "# HEALTHCHECK", "healthcheck runs dijk healthcheck with the image's config"},
	}
	checks := map[string]func(*dockerfile) error{}
	for _, c := range dockerChecks() {
		checks[c.name] = c.check
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check, ok := checks[tt.wantCheck]
			if !ok {
				t.Fatalf("no check named %q", tt.wantCheck)
			}
			if !strings.Contains(string(orig), tt.old) {
				t.Fatalf("the Dockerfile no longer contains %q; update this case", tt.old)
			}
			broken, err := parseDockerfile(strings.Replace(string(orig), tt.old, tt.new, 1))
			if err != nil {
				t.Fatalf("broken Dockerfile does not parse: %v", err)
			}
			if err := check(broken); err == nil {
				t.Errorf("check %q passed on a Dockerfile with %s", tt.wantCheck, tt.name)
			} else {
				t.Logf("caught: %v", err)
			}
		})
	}
}

func TestParseDockerfile(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []string // "CMD args" of every instruction, stages flattened, FROM included
		wantErr bool
	}{
		{"continuation joins lines", "FROM a\nRUN x \\\n  y\n", []string{"FROM a", "RUN x   y"}, false},
		{"comment inside continuation is dropped", "FROM a\nRUN x \\\n# note\n  && y\n", []string{"FROM a", "RUN x   && y"}, false},
		{"blank line inside continuation is dropped", "FROM a\nRUN x \\\n\n  y\n", []string{"FROM a", "RUN x   y"}, false},
		{"backslash followed by spaces", "FROM a\nRUN x \\  \ny\n", []string{"FROM a", "RUN x y"}, false},
		{"comments and case", "# top\nARG B=c\nfrom ${B} as build\n  # indented comment\nuser 1:1\n", []string{"FROM ${B} as build", "USER 1:1"}, false},
		{"hash inside an instruction is not a comment", "FROM a\nRUN echo '#x'\n", []string{"FROM a", "RUN echo '#x'"}, false},
		{"no FROM", "RUN x\n", nil, true},
		{"dangling continuation", "FROM a\nRUN x \\\n", nil, true},
		{"escape directive refused", "# escape=`\nFROM a\n", nil, true},
		{"heredoc refused", "FROM a\nRUN <<EOF\nx\nEOF\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			df, err := parseDockerfile(tt.text)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			var got []string
			for _, st := range df.stages {
				got = append(got, st.from.cmd+" "+st.from.args)
				for _, in := range st.instrs {
					got = append(got, in.cmd+" "+in.args)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestShellWords(t *testing.T) {
	vars := map[string]string{"V": "1.0", "EMPTY": ""}
	lookup := func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
	tests := []struct {
		name string
		line string
		want []string // operators shown as «op»
	}{
		{"words and operators", "A=1 go build ./x && setcap y||z; w", []string{"A=1", "go", "build", "./x", "«&&»", "setcap", "y", "«||»", "z", "«;»", "w"}},
		{"double quotes keep spaces and expand", `-ldflags "-s -X main.version=${V}"`, []string{"-ldflags", "-s -X main.version=1.0"}},
		{"single quotes do not expand", `'$V' "$V" $V`, []string{"$V", "1.0", "1.0"}},
		{"default for unset and empty", "${UNSET:-linux} ${EMPTY:-x} ${EMPTY-y} ${UNSET-z}", []string{"linux", "x", "", "z"}},
		{"unset is empty", "a${UNSET}b", []string{"ab"}},
		{"escapes", `a\ b "c\"d" "e\f"`, []string{"a b", `c"d`, `e\f`}},
		{"empty quoted word", `x "" y`, []string{"x", "", "y"}},
		{"pipe", "a | b", []string{"a", "«|»", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens, err := shellWords(tt.line, lookup)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tok := range tokens {
				if tok.op {
					got = append(got, "«"+tok.text+"»")
				} else {
					got = append(got, tok.text)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
	for _, bad := range []string{`"open`, `'open`, `trailing\`} {
		if _, err := shellWords(bad, lookup); err == nil {
			t.Errorf("shellWords(%q): want an error", bad)
		}
	}
}

// dockerignore is a .dockerignore file: patterns matched as Docker's
// patternmatcher does (path or any parent directory; later patterns win;
// '!' re-includes).
type dockerignore struct {
	patterns []struct {
		re      *regexp.Regexp
		exclude bool
	}
}

func parseDockerignore(text string) (*dockerignore, error) {
	di := &dockerignore{}
	for _, line := range strings.Split(text, "\n") {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		exclude := true
		if rest, ok := strings.CutPrefix(p, "!"); ok {
			p, exclude = strings.TrimSpace(rest), false
		}
		if strings.ContainsAny(p, "[]") {
			return nil, fmt.Errorf("pattern %q: character classes are not supported by this matcher", p)
		}
		p = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(p)), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch {
			case strings.HasPrefix(p[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(p[i:], "**"):
				re.WriteString(".*")
				i++
			case p[i] == '*':
				re.WriteString("[^/]*")
			case p[i] == '?':
				re.WriteString("[^/]")
			case p[i] == '\\' && i+1 < len(p):
				re.WriteString(regexp.QuoteMeta(p[i+1 : i+2]))
				i++
			default:
				re.WriteString(regexp.QuoteMeta(p[i : i+1]))
			}
		}
		re.WriteString("$")
		compiled, err := regexp.Compile(re.String())
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", p, err)
		}
		di.patterns = append(di.patterns, struct {
			re      *regexp.Regexp
			exclude bool
		}{compiled, exclude})
	}
	return di, nil
}

// excluded reports whether path (slash-separated, relative to the build
// context) is left out of the context.
func (di *dockerignore) excluded(path string) bool {
	var candidates []string
	for p := path; p != "." && p != ""; p = filepath.ToSlash(filepath.Dir(p)) {
		candidates = append(candidates, p)
	}
	out := false
	for _, pat := range di.patterns {
		for _, c := range candidates {
			if pat.re.MatchString(c) {
				out = pat.exclude
				break
			}
		}
	}
	return out
}

// buildInputs lists the files `go build ./cmd/dijk` in the image needs from
// the context: every non-test Go file of this module and every file a
// //go:embed directive names.
func buildInputs(t *testing.T) []string {
	t.Helper()
	files := []string{"go.mod", "go.sum", containerConfigPath}
	err := filepath.WalkDir(moduleRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(moduleRoot, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "." {
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module, not built into the image
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		files = append(files, rel)
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(src), "\n") {
			patterns, ok := strings.CutPrefix(line, "//go:embed ")
			if !ok {
				continue
			}
			for _, pat := range strings.Fields(patterns) {
				matches, err := filepath.Glob(filepath.Join(filepath.Dir(path), pat))
				if err != nil || len(matches) == 0 {
					return fmt.Errorf("%s: //go:embed %s matches nothing", rel, pat)
				}
				for _, m := range matches {
					r, err := filepath.Rel(moduleRoot, m)
					if err != nil {
						return err
					}
					files = append(files, filepath.ToSlash(r))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestDockerignore(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(moduleRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	di, err := parseDockerignore(string(text))
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	tests := []struct {
		name         string
		path         string
		wantExcluded bool
	}{
		{"git directory", ".git", true},
		{"file inside .git", ".git/objects/pack/x.pack", true},
		{"root binary", "dijk", true},
		{"test fixture", "internal/blocklist/testdata/big.txt", true},
		{"command source", "cmd/dijk/main.go", false},
		{"container config", containerConfigPath, false},
		{"embedded default config", "config/dijk.yaml", false},
		{"Kubernetes manifests", "config/kubernetes/deployment.yaml", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := di.excluded(tt.path); got != tt.wantExcluded {
				t.Errorf("excluded(%q) = %v, want %v", tt.path, got, tt.wantExcluded)
			}
		})
	}
	t.Run("every build input is in the context", func(t *testing.T) {
		inputs := buildInputs(t)
		if len(inputs) < 10 {
			t.Fatalf("found only %d build inputs: %v", len(inputs), inputs)
		}
		for _, f := range inputs {
			if di.excluded(f) {
				t.Errorf("%s is needed by the image build but .dockerignore excludes it", f)
			}
		}
	})
}

func TestDockerignoreMatcher(t *testing.T) {
	tests := []struct {
		name     string
		patterns string
		path     string
		want     bool
	}{
		{"plain name matches at the root only", "dijk", "cmd/dijk/main.go", false},
		{"plain name at the root", "dijk", "dijk", true},
		{"parent directory excludes children", "config/kubernetes", "config/kubernetes/a/b.yaml", true},
		{"double star matches any depth", "**/testdata", "a/b/testdata/x", true},
		{"double star matches at the root", "**/testdata", "testdata/x", true},
		{"star stays within one segment", "*.out", "a/b.out", false},
		{"leading slash is the root", "/out", "out/x", true},
		{"exception re-includes", "*.md\n!README.md", "README.md", false},
		{"later pattern wins", "!README.md\n*.md", "README.md", true},
		{"comment ignored", "# dijk", "dijk", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			di, err := parseDockerignore(tt.patterns)
			if err != nil {
				t.Fatal(err)
			}
			if got := di.excluded(tt.path); got != tt.want {
				t.Errorf("excluded(%q) with %q = %v, want %v", tt.path, tt.patterns, got, tt.want)
			}
		})
	}
}
