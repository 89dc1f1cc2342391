package main

// Checks of the monitoring files shipped in config/: the Prometheus alerting
// rules and their unit tests (with promtool), the metrics exposition of a
// running Dijk (promtool check metrics), and that the Grafana dashboard and
// the alerts only use metrics Dijk really exports.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/viper"
)

const (
	alertsFile     = "../../config/prometheus/alerts.yml"
	alertsTestFile = "../../config/prometheus/alerts_test.yml"
	dashboardFile  = "../../config/grafana/dijk.json"
)

// eventOnlyMetrics are referenced by the dashboard or the alerts but are not
// in the exposition of a freshly started Dijk even after the queries
// liveMetrics sends, so the name check accepts them.
var eventOnlyMetrics = map[string]string{
	// SOC device tracking is being added to Dijk (a client IP blocked for the
	// first time since start, and the number of such devices). Once it is
	// exported by every build, delete these two so the check covers them.
	"dijk_soc_new_devices_total":      "SOC device tracking (not exported yet)",
	"dijk_soc_devices":                "SOC device tracking (not exported yet)",
	"dijk_soc_device_evictions_total": "SOC device tracking (not exported yet)",
}

// runPromtool runs promtool with args and stdin, and returns its combined
// output and error (an *exec.ExitError for a non-zero exit).
func runPromtool(t *testing.T, stdin []byte, args ...string) (string, error) {
	t.Helper()
	path := requireTool(t, "promtool", "prometheus")
	cmd := exec.Command(path, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("promtool %s: %v", strings.Join(args, " "), err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("promtool %s: still running after 2 minutes", strings.Join(args, " "))
		return "", nil
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	out, err := runPromtool(t, nil, "check", "rules", alertsFile)
	if err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", alertsFile, err, out)
	}
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check rules: no SUCCESS in output:\n%s", out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	t.Parallel() // promtool evaluates two days of rules: about 20 seconds
	out, err := runPromtool(t, nil, "test", "rules", alertsTestFile)
	if err != nil {
		t.Fatalf("promtool test rules %s: %v\n%s", alertsTestFile, err, out)
	}
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules: no SUCCESS in output:\n%s", out)
	}
}

// TestPromtoolCheckMetrics lints the live exposition: format, names, HELP.
func TestPromtoolCheckMetrics(t *testing.T) {
	requireTool(t, "promtool", "prometheus") // before starting Dijk
	metrics := liveMetrics(t)
	out, err := runPromtool(t, []byte(metrics), "check", "metrics")
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// liveMetrics starts Dijk in process, sends queries that make the per-event
// series exist (a block, a forward, a cache hit, TCP and UDP, a malformed
// packet, a hit-log line) and returns the body of GET /metrics.
func liveMetrics(t *testing.T) string {
	t.Helper()
	up := startFakeUpstream(t)
	hits := filepath.Join(t.TempDir(), "hits.jsonl")
	inst := startDijk(t, testConfig(t, "--upstream.servers", up.addr, "--log.hits", hits))
	addr := inst.dnsAddrs()[0]

	if r := ask(t, "udp", addr, "chat.deepseek.com.", dns.TypeA, false); r.Rcode != dns.RcodeNameError {
		t.Fatalf("blocked query: %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	for _, network := range []string{"udp", "tcp"} { // forwarded, then cached
		if r := ask(t, network, addr, "www.example.org.", dns.TypeA, false); r.Rcode != dns.RcodeSuccess {
			t.Fatalf("forwarded query over %s: %s, want NOERROR", network, dns.RcodeToString[r.Rcode])
		}
	}
	// A header announcing one question, followed by a truncated name.
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte{0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'a', 'b'}); err != nil {
		t.Fatal(err)
	}

	url := "http://" + inst.http.Addr() + "/metrics"
	var metrics string
	waitFor(t, "dijk_malformed_queries_total and dijk_hitlog_lines_total 1 in /metrics", func() bool {
		metrics = httpGet(t, url)
		return strings.Contains(metrics, "dijk_malformed_queries_total{") &&
			strings.Contains(metrics, "dijk_hitlog_lines_total 1")
	})
	return metrics
}

// metricFamilies maps the names in the "# TYPE" lines of an exposition to
// their types.
func metricFamilies(t *testing.T, exposition string) map[string]string {
	t.Helper()
	families := map[string]string{}
	for line := range strings.SplitSeq(exposition, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			families[f[2]] = f[3]
		}
	}
	for _, want := range []string{"dijk_queries_total", "dijk_build_info", "go_goroutines", "process_cpu_seconds_total"} {
		if families[want] == "" {
			t.Fatalf("exposition has no %s; TYPE lines found: %v", want, sortedKeys(families))
		}
	}
	return families
}

// metricRef matches a metric name of Dijk or of the Go and process
// collectors, with the label matchers that follow it, if any.
var metricRef = regexp.MustCompile(`\b((?:dijk|go|process)_[a-zA-Z0-9_]*[a-zA-Z0-9])\b(\{[^}]*\})?`)

// metricNames returns the metric names text references; a histogram's or
// summary's _bucket, _count and _sum series map to the family name.
func metricNames(text string, families map[string]string) []string {
	var names []string
	for _, m := range metricRef.FindAllStringSubmatch(text, -1) {
		names = append(names, familyOf(m[1], families))
	}
	return names
}

func familyOf(name string, families map[string]string) string {
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if typ := families[base]; typ == "histogram" || typ == "summary" {
				return base
			}
		}
	}
	return name
}

// checkKnown reports the metrics text names that are neither in families nor
// in eventOnlyMetrics.
func checkKnown(t *testing.T, where, text string, families map[string]string) {
	t.Helper()
	names := metricNames(text, families)
	if len(names) == 0 {
		t.Errorf("%s: %q references no dijk_, go_ or process_ metric", where, text)
	}
	for _, name := range names {
		if families[name] == "" && eventOnlyMetrics[name] == "" {
			t.Errorf("%s: %s is not in Dijk's /metrics (nor allow-listed): %s", where, name, text)
		}
	}
}

// dashboard is the part of Grafana's dashboard model the test reads.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasourceRef  `json:"datasource"`
			IncludeAll bool            `json:"includeAll"`
			AllValue   string          `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // inside a collapsed row
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

const dsVar = "${DS_PROMETHEUS}"

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dec.More() {
		t.Fatalf("%s: data after the dashboard object", dashboardFile)
	}
	return d
}

// flatPanels lists the panels in order, with those of collapsed rows after
// their row.
func flatPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatPanels(p.Panels)...)
	}
	return out
}

// TestGrafanaDashboard checks the dashboard's structure and that every
// query uses only metrics a running Dijk exports, filtered by $instance.
func TestGrafanaDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q title %q: want both set", d.UID, d.Title)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: want 36 or later (Grafana 9+)", d.SchemaVersion)
	}

	vars := map[string]int{}
	for i, v := range d.Templating.List {
		vars[v.Name] = i
	}
	if i, ok := vars["DS_PROMETHEUS"]; !ok {
		t.Error(`no template variable DS_PROMETHEUS`)
	} else if v := d.Templating.List[i]; v.Type != "datasource" || string(v.Query) != `"prometheus"` {
		t.Errorf("variable DS_PROMETHEUS: type %q query %s, want a prometheus datasource variable", v.Type, v.Query)
	}
	var instanceQuery string
	if i, ok := vars["instance"]; !ok {
		t.Error("no template variable instance")
	} else {
		v := d.Templating.List[i]
		instanceQuery = v.Definition
		if v.Type != "query" || !strings.Contains(string(v.Query), "label_values(dijk_build_info, instance)") {
			t.Errorf("variable instance: type %q query %s, want label_values(dijk_build_info, instance)", v.Type, v.Query)
		}
		if v.Datasource == nil || v.Datasource.UID != dsVar {
			t.Errorf("variable instance: datasource %+v, want uid %s", v.Datasource, dsVar)
		}
		// A custom "All" value such as .* would also match the targets of
		// other jobs in the Go and process panels.
		if v.AllValue != "" {
			t.Errorf("variable instance: allValue %q, want none (All = the instances Dijk reports)", v.AllValue)
		}
	}

	families := metricFamilies(t, liveMetrics(t))
	if instanceQuery != "" {
		checkKnown(t, "variable instance", instanceQuery, families)
	}

	var rows []string
	ids := map[int]string{}
	var boxes []panel
	exprs := 0
	for _, p := range flatPanels(d.Panels) {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if prev, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("%s: id not unique (also %q) or zero", where, prev)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24-column grid", where, g)
		}
		boxes = append(boxes, p)
		if p.Type == "row" {
			rows = append(rows, p.Title)
			if len(p.Targets) != 0 {
				t.Errorf("%s: a row with queries", where)
			}
			continue
		}
		if p.Title == "" {
			t.Errorf("panel %d: no title", p.ID)
		}
		if p.Datasource == nil || p.Datasource.UID != dsVar {
			t.Errorf("%s: datasource %+v, want uid %s", where, p.Datasource, dsVar)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no queries", where)
		}
		refIDs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refIDs[tg.RefID] {
				t.Errorf("%s: refId %q empty or repeated", where, tg.RefID)
			}
			refIDs[tg.RefID] = true
			if tg.Datasource != nil && tg.Datasource.UID != dsVar {
				t.Errorf("%s %s: datasource %+v, want uid %s", where, tg.RefID, tg.Datasource, dsVar)
			}
			exprs++
			checkKnown(t, where+" "+tg.RefID, tg.Expr, families)
			for _, m := range metricRef.FindAllStringSubmatch(tg.Expr, -1) {
				if !strings.Contains(m[2], `instance=~"$instance"`) {
					t.Errorf("%s %s: %s%s lacks instance=~\"$instance\"", where, tg.RefID, m[1], m[2])
				}
			}
		}
	}
	if want := []string{"Overview", "SOC", "Upstreams", "Lists", "Process"}; !slices.Equal(rows, want) {
		t.Errorf("rows %q, want %q", rows, want)
	}
	if exprs < 20 {
		t.Errorf("%d queries in the dashboard; the walk seems to miss panels", exprs)
	}
	for i, a := range boxes {
		for _, b := range boxes[i+1:] {
			ga, gb := a.GridPos, b.GridPos
			if ga.X < gb.X+gb.W && gb.X < ga.X+ga.W && ga.Y < gb.Y+gb.H && gb.Y < ga.Y+ga.H {
				t.Errorf("panels %q %+v and %q %+v overlap", a.Title, ga, b.Title, gb)
			}
		}
	}
}

// alertRule is one rule of alerts.yml as read by viper (keys lower-cased).
type alertRule struct {
	name        string
	expr        string
	hasFor      bool
	labels      map[string]any
	annotations map[string]any
}

// readAlertRules parses alerts.yml. viper (already a dependency, for the
// configuration) does the YAML, so the module needs no YAML library of its own.
func readAlertRules(t *testing.T) []alertRule {
	t.Helper()
	data, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	groups, ok := v.Get("groups").([]any)
	if !ok || len(groups) != 1 {
		t.Fatalf("%s: groups %v, want one group", alertsFile, v.Get("groups"))
	}
	group, _ := groups[0].(map[string]any)
	if group["name"] != "dijk" {
		t.Errorf("rule group name %v, want dijk", group["name"])
	}
	items, _ := group["rules"].([]any)
	var rules []alertRule
	for i, item := range items {
		m, _ := item.(map[string]any)
		r := alertRule{}
		r.name, _ = m["alert"].(string)
		r.expr, _ = m["expr"].(string)
		_, r.hasFor = m["for"]
		r.labels, _ = m["labels"].(map[string]any)
		r.annotations, _ = m["annotations"].(map[string]any)
		if r.name == "" || r.expr == "" {
			t.Errorf("rule %d: alert %q expr %q; want an alerting rule with an expression", i, r.name, r.expr)
			continue
		}
		rules = append(rules, r)
	}
	return rules
}

// TestAlertRulesUseExportedMetrics checks every alert's shape, and that its
// expression and annotations name only metrics Dijk exports.
func TestAlertRulesUseExportedMetrics(t *testing.T) {
	rules := readAlertRules(t)
	families := metricFamilies(t, liveMetrics(t))
	names := map[string]bool{}
	for _, r := range rules {
		if names[r.name] {
			t.Errorf("alert %s defined twice", r.name)
		}
		names[r.name] = true
		if !r.hasFor {
			t.Errorf("alert %s: no for:", r.name)
		}
		switch r.labels["severity"] {
		case "critical", "warning", "info":
		default:
			t.Errorf("alert %s: severity %v, want critical, warning or info", r.name, r.labels["severity"])
		}
		for _, key := range []string{"summary", "description"} {
			if s, _ := r.annotations[key].(string); len(strings.TrimSpace(s)) < 20 {
				t.Errorf("alert %s: annotation %s %q too short or missing", r.name, key, s)
			}
		}
		if r.name == "DijkDown" {
			// Scrape health is Prometheus's own up series, not Dijk's.
			if !strings.Contains(r.expr, `up{job="dijk"}`) {
				t.Errorf("alert DijkDown: expr %q, want up{job=\"dijk\"}", r.expr)
			}
			continue
		}
		checkKnown(t, "alert "+r.name+" expr", r.expr, families)
		for _, key := range []string{"summary", "description"} {
			s, _ := r.annotations[key].(string)
			for _, name := range metricNames(s, families) {
				if families[name] == "" && eventOnlyMetrics[name] == "" {
					t.Errorf("alert %s: annotation %s names %s, which Dijk does not export", r.name, key, name)
				}
			}
		}
	}
	for _, want := range []string{
		"DijkNewBlockedDevice", "DijkBlockSpike", "DijkAllUpstreamsDown", "DijkUpstreamErrors",
		"DijkListLoadFailing", "DijkListsStale", "DijkHitLogDropping", "DijkPanics", "DijkDown",
		"DijkServfailRatio",
	} {
		if !names[want] {
			t.Errorf("alerts.yml has no alert %s", want)
		}
	}
}

// TestAlertMetricCheckCatchesUnknownNames makes sure the name check above
// can fail: a misspelt metric, a histogram suffix on a counter.
func TestAlertMetricCheckCatchesUnknownNames(t *testing.T) {
	families := map[string]string{"dijk_queries_total": "counter", "dijk_query_duration_seconds": "histogram"}
	for text, want := range map[string][]string{
		`rate(dijk_query_duration_seconds_bucket{instance=~"$instance"}[5m])`: {"dijk_query_duration_seconds"},
		`rate(dijk_querys_total[5m]) / rate(dijk_queries_total_count[5m])`:    {"dijk_querys_total", "dijk_queries_total_count"},
		`sum(go_goroutines) + process_cpu_seconds_total{job="dijk"}`:          {"go_goroutines", "process_cpu_seconds_total"},
		`increase(dijk_soc_new_devices_total[15m]) > 0 and time() > 0`:        {"dijk_soc_new_devices_total"},
	} {
		if got := metricNames(text, families); !slices.Equal(got, want) {
			t.Errorf("metricNames(%q) = %q, want %q", text, got, want)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
