// Package kubernetes_test checks Dijk's Kubernetes manifests without a
// cluster: every file is decoded strictly into the typed k8s.io/api structs
// (so a misspelt field fails), and the settings the deployment depends on
// (replicas, anti-affinity, probes, security context, ports, selectors) are
// checked one by one.
package kubernetes_test

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// docSeparator matches a YAML document separator line.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitDocs splits a multi-document YAML file, dropping documents that hold
// only comments or whitespace.
func splitDocs(data []byte) [][]byte {
	var docs [][]byte
	for _, doc := range docSeparator.Split(string(data), -1) {
		empty := true
		for _, line := range strings.Split(doc, "\n") {
			line = strings.TrimSpace(line)
			if line != "" && !strings.HasPrefix(line, "#") {
				empty = false
				break
			}
		}
		if !empty {
			docs = append(docs, []byte(doc))
		}
	}
	return docs
}

// decodeFile strictly decodes every document in file into a new T and
// checks its apiVersion and kind.
func decodeFile[T any](t *testing.T, file, apiVersion, kind string) []*T {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	docs := splitDocs(data)
	if len(docs) == 0 {
		t.Fatalf("%s: no YAML documents", file)
	}
	var out []*T
	for i, doc := range docs {
		obj := new(T)
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("%s document %d: %v", file, i+1, err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("%s document %d: %v", file, i+1, err)
		}
		if tm.APIVersion != apiVersion || tm.Kind != kind {
			t.Fatalf("%s document %d: got %s %s, want %s %s", file, i+1, tm.APIVersion, tm.Kind, apiVersion, kind)
		}
		out = append(out, obj)
	}
	return out
}

// decodeOne decodes a file that must hold exactly one document.
func decodeOne[T any](t *testing.T, file, apiVersion, kind string) *T {
	t.Helper()
	objs := decodeFile[T](t, file, apiVersion, kind)
	if len(objs) != 1 {
		t.Fatalf("%s: %d documents, want 1", file, len(objs))
	}
	return objs[0]
}

func loadDeployment(t *testing.T) *appsv1.Deployment {
	return decodeOne[appsv1.Deployment](t, "deployment.yaml", "apps/v1", "Deployment")
}

func loadServices(t *testing.T) []*corev1.Service {
	return decodeFile[corev1.Service](t, "service.yaml", "v1", "Service")
}

func loadConfigMap(t *testing.T) *corev1.ConfigMap {
	return decodeOne[corev1.ConfigMap](t, "configmap.yaml", "v1", "ConfigMap")
}

func loadPDB(t *testing.T) *policyv1.PodDisruptionBudget {
	return decodeOne[policyv1.PodDisruptionBudget](t, "pdb.yaml", "policy/v1", "PodDisruptionBudget")
}

func loadHPA(t *testing.T) *autoscalingv2.HorizontalPodAutoscaler {
	return decodeOne[autoscalingv2.HorizontalPodAutoscaler](t, "hpa.yaml", "autoscaling/v2", "HorizontalPodAutoscaler")
}

// dijkContainer returns the container named "dijk".
func dijkContainer(t *testing.T, d *appsv1.Deployment) *corev1.Container {
	t.Helper()
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == "dijk" {
			return c
		}
	}
	t.Fatal("deployment has no container named dijk")
	return nil
}

// containerPort resolves a numeric or named port of c.
func containerPort(c *corev1.Container, p intstr.IntOrString) (corev1.ContainerPort, error) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) ||
			(p.Type == intstr.String && cp.Name == p.StrVal) {
			return cp, nil
		}
	}
	return corev1.ContainerPort{}, fmt.Errorf("container %s has no port %s", c.Name, p.String())
}

// selects reports whether sel matches the pod template's labels.
func selects(t *testing.T, sel *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return !s.Empty() && s.Matches(labels.Set(podLabels))
}

// TestStrictDecodingRejectsTypos guards the guard: the strict decoder the
// other tests rely on must fail on a misspelt field.
func TestStrictDecodingRejectsTypos(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		obj  any
	}{
		{"deployment replica", "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 2\n", &appsv1.Deployment{}},
		{"probe path typo", "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: x\n    readinessProbe:\n      httpGet:\n        pth: /readyz\n", &corev1.Pod{}},
		{"duplicate key", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  name: b\n", &corev1.Service{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := yaml.UnmarshalStrict([]byte(tt.doc), tt.obj); err == nil {
				t.Fatalf("UnmarshalStrict accepted %q", tt.doc)
			}
		})
	}
}

func TestSplitDocs(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"a: 1\n", 1},
		{"# only a comment\n---\na: 1\n---\nb: 2\n", 2},
		{"---\na: 1\n---   \n\n---\n", 1},
		{"a: |\n  x---y\n", 1},
	}
	for _, tt := range tests {
		if got := len(splitDocs([]byte(tt.in))); got != tt.want {
			t.Errorf("splitDocs(%q): %d documents, want %d", tt.in, got, tt.want)
		}
	}
}

// kustomization mirrors the fields of kustomization.yaml this directory
// uses; strict decoding makes any other field an error.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	data, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml: got %s %s", k.APIVersion, k.Kind)
	}
	if k.Namespace == "" {
		t.Error("kustomization.yaml sets no namespace")
	}
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = slices.DeleteFunc(files, func(f string) bool { return f == "kustomization.yaml" })
	want := []string{"configmap.yaml", "deployment.yaml", "hpa.yaml", "pdb.yaml", "service.yaml"}
	got := slices.Clone(k.Resources)
	sort.Strings(got)
	sort.Strings(files)
	if !slices.Equal(got, want) {
		t.Errorf("kustomization resources = %v, want %v", got, want)
	}
	if !slices.Equal(files, want) {
		t.Errorf("manifest files = %v, want %v", files, want)
	}
	d := loadDeployment(t)
	image := dijkContainer(t, d).Image
	name, _, _ := strings.Cut(image, ":")
	var rewritten bool
	for _, img := range k.Images {
		if img.Name == name && img.NewName != "" && img.NewTag != "" {
			rewritten = true
		}
	}
	if !rewritten {
		t.Errorf("kustomization images: no entry with newName and newTag for %q", name)
	}
}

func TestDeployment(t *testing.T) {
	d := loadDeployment(t)
	pod := &d.Spec.Template.Spec
	podLabels := d.Spec.Template.Labels
	c := dijkContainer(t, d)

	// effective returns the container's security setting, falling back to the
	// pod's, as the kubelet does.
	podSC := pod.SecurityContext
	if podSC == nil {
		podSC = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("container dijk has no securityContext")
	}

	checks := []struct {
		name  string
		check func() error
	}{
		{"at least 2 replicas", func() error {
			if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
				return fmt.Errorf("replicas = %v, want >= 2", deref(d.Spec.Replicas))
			}
			return nil
		}},
		{"selector matches pod template labels", func() error {
			if !selects(t, d.Spec.Selector, podLabels) {
				return fmt.Errorf("selector %v does not match %v", d.Spec.Selector, podLabels)
			}
			return nil
		}},
		{"rolling update keeps every resolver until its replacement is ready", func() error {
			ru := d.Spec.Strategy.RollingUpdate
			if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
				ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "0" {
				return fmt.Errorf("strategy = %+v", d.Spec.Strategy)
			}
			return nil
		}},
		{"pod anti-affinity spreads replicas across nodes", func() error {
			if pod.Affinity == nil || pod.Affinity.PodAntiAffinity == nil {
				return fmt.Errorf("no podAntiAffinity")
			}
			aa := pod.Affinity.PodAntiAffinity
			terms := slices.Clone(aa.RequiredDuringSchedulingIgnoredDuringExecution)
			for _, w := range aa.PreferredDuringSchedulingIgnoredDuringExecution {
				terms = append(terms, w.PodAffinityTerm)
			}
			for _, term := range terms {
				if term.TopologyKey == corev1.LabelHostname && selects(t, term.LabelSelector, podLabels) {
					return nil
				}
			}
			return fmt.Errorf("no anti-affinity term on %s selecting the pods", corev1.LabelHostname)
		}},
		{"container ports 53/UDP, 53/TCP, 9153/TCP", func() error {
			want := []string{"53/TCP", "53/UDP", "9153/TCP"}
			var got []string
			for _, p := range c.Ports {
				got = append(got, fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol))
			}
			sort.Strings(got)
			if !slices.Equal(got, want) {
				return fmt.Errorf("ports = %v, want %v", got, want)
			}
			return nil
		}},
		{"readiness probe GET /readyz on 9153", func() error {
			return checkProbe(c, c.ReadinessProbe, "/readyz", 9153)
		}},
		{"liveness probe GET /healthz on 9153", func() error {
			return checkProbe(c, c.LivenessProbe, "/healthz", 9153)
		}},
		{"CPU and memory requests and limits", func() error {
			for _, rl := range []struct {
				what string
				list corev1.ResourceList
			}{{"requests", c.Resources.Requests}, {"limits", c.Resources.Limits}} {
				for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					q, ok := rl.list[r]
					if !ok || q.Sign() <= 0 {
						return fmt.Errorf("%s.%s not set", rl.what, r)
					}
				}
			}
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
				if req.Cmp(lim) > 0 {
					return fmt.Errorf("%s request %s above limit %s", r, req.String(), lim.String())
				}
			}
			return nil
		}},
		{"runs as non-root uid 65532", func() error {
			nonRoot := firstBool(sc.RunAsNonRoot, podSC.RunAsNonRoot)
			uid := firstInt64(sc.RunAsUser, podSC.RunAsUser)
			if nonRoot == nil || !*nonRoot || uid == nil || *uid != 65532 {
				return fmt.Errorf("runAsNonRoot = %v, runAsUser = %v", deref(nonRoot), deref(uid))
			}
			return nil
		}},
		{"read-only root filesystem", func() error {
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				return fmt.Errorf("readOnlyRootFilesystem = %v", deref(sc.ReadOnlyRootFilesystem))
			}
			return nil
		}},
		{"no privilege escalation", func() error {
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				return fmt.Errorf("allowPrivilegeEscalation = %v", deref(sc.AllowPrivilegeEscalation))
			}
			if sc.Privileged != nil && *sc.Privileged {
				return fmt.Errorf("privileged")
			}
			return nil
		}},
		{"drops ALL capabilities and adds only NET_BIND_SERVICE", func() error {
			caps := sc.Capabilities
			if caps == nil {
				return fmt.Errorf("no capabilities")
			}
			if !slices.Equal(caps.Drop, []corev1.Capability{"ALL"}) {
				return fmt.Errorf("drop = %v, want [ALL]", caps.Drop)
			}
			if !slices.Equal(caps.Add, []corev1.Capability{"NET_BIND_SERVICE"}) {
				return fmt.Errorf("add = %v, want [NET_BIND_SERVICE]", caps.Add)
			}
			return nil
		}},
		{"RuntimeDefault seccomp profile", func() error {
			p := sc.SeccompProfile
			if p == nil {
				p = podSC.SeccompProfile
			}
			if p == nil || p.Type != corev1.SeccompProfileTypeRuntimeDefault {
				return fmt.Errorf("seccompProfile = %+v", p)
			}
			return nil
		}},
		{"port 53 bindable without capabilities (sysctl)", func() error {
			for _, s := range podSC.Sysctls {
				if s.Name == "net.ipv4.ip_unprivileged_port_start" {
					if v, err := strconv.Atoi(s.Value); err != nil || v > 53 {
						return fmt.Errorf("%s = %q, want <= 53", s.Name, s.Value)
					}
					return nil
				}
			}
			return fmt.Errorf("sysctl net.ipv4.ip_unprivileged_port_start not set")
		}},
		{"not on the host network", func() error {
			if pod.HostNetwork {
				return fmt.Errorf("hostNetwork is set")
			}
			return nil
		}},
		{"config from the ConfigMap at /etc/dijk, emptyDir at /var/lib/dijk", func() error {
			cm := loadConfigMap(t)
			vols := map[string]corev1.Volume{}
			for _, v := range pod.Volumes {
				vols[v.Name] = v
			}
			mounts := map[string]corev1.VolumeMount{}
			for _, m := range c.VolumeMounts {
				mounts[m.MountPath] = m
			}
			cfg, ok := mounts["/etc/dijk"]
			if !ok {
				return fmt.Errorf("nothing mounted at /etc/dijk")
			}
			if v := vols[cfg.Name]; v.ConfigMap == nil || v.ConfigMap.Name != cm.Name {
				return fmt.Errorf("/etc/dijk is volume %q, not ConfigMap %q", cfg.Name, cm.Name)
			}
			if !cfg.ReadOnly {
				return fmt.Errorf("/etc/dijk is not mounted read-only")
			}
			state, ok := mounts["/var/lib/dijk"]
			if !ok {
				return fmt.Errorf("nothing mounted at /var/lib/dijk")
			}
			if v := vols[state.Name]; v.EmptyDir == nil {
				return fmt.Errorf("/var/lib/dijk is volume %q, not an emptyDir", state.Name)
			}
			for _, m := range c.VolumeMounts {
				if _, ok := vols[m.Name]; !ok {
					return fmt.Errorf("mount %s uses undefined volume %q", m.MountPath, m.Name)
				}
			}
			return nil
		}},
		{"runs serve with the mounted config", func() error {
			want := []string{"serve", "--config", "/etc/dijk/dijk.yaml"}
			if !slices.Equal(c.Args, want) || len(c.Command) != 0 {
				return fmt.Errorf("command %v args %v, want args %v", c.Command, c.Args, want)
			}
			return nil
		}},
		{"Prometheus scrape annotations", func() error {
			a := d.Spec.Template.Annotations
			if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != "9153" || a["prometheus.io/path"] != "/metrics" {
				return fmt.Errorf("annotations = %v", a)
			}
			if _, err := containerPort(c, intstr.FromInt32(9153)); err != nil {
				return err
			}
			return nil
		}},
		{"image is set", func() error {
			if c.Image == "" {
				return fmt.Errorf("no image")
			}
			return nil
		}},
	}
	for _, tt := range checks {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.check(); err != nil {
				t.Error(err)
			}
		})
	}
}

// checkProbe checks that p is an HTTP GET of path on container port port.
func checkProbe(c *corev1.Container, p *corev1.Probe, path string, port int32) error {
	if p == nil || p.HTTPGet == nil {
		return fmt.Errorf("no httpGet probe")
	}
	if p.HTTPGet.Path != path {
		return fmt.Errorf("path = %q, want %q", p.HTTPGet.Path, path)
	}
	cp, err := containerPort(c, p.HTTPGet.Port)
	if err != nil {
		return err
	}
	if cp.ContainerPort != port || cp.Protocol != corev1.ProtocolTCP {
		return fmt.Errorf("port = %d/%s, want %d/TCP", cp.ContainerPort, cp.Protocol, port)
	}
	return nil
}

func firstBool(a, b *bool) *bool {
	if a != nil {
		return a
	}
	return b
}

func firstInt64(a, b *int64) *int64 {
	if a != nil {
		return a
	}
	return b
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestServices(t *testing.T) {
	d := loadDeployment(t)
	c := dijkContainer(t, d)
	services := loadServices(t)
	byName := map[string]*corev1.Service{}
	for _, s := range services {
		byName[s.Name] = s
	}

	tests := []struct {
		service string
		// want lists "port/PROTOCOL->containerPort".
		want []string
		// external says whether the Service may be reachable from outside
		// the cluster.
		external bool
	}{
		{"dijk", []string{"53/TCP->53", "53/UDP->53"}, true},
		{"dijk-metrics", []string{"9153/TCP->9153"}, false},
	}
	if len(services) != len(tests) {
		t.Errorf("service.yaml has %d Services, want %d", len(services), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			s, ok := byName[tt.service]
			if !ok {
				t.Fatalf("no Service %q", tt.service)
			}
			if !selects(t, &metav1.LabelSelector{MatchLabels: s.Spec.Selector}, d.Spec.Template.Labels) {
				t.Errorf("selector %v does not match pod labels %v", s.Spec.Selector, d.Spec.Template.Labels)
			}
			var got []string
			for _, p := range s.Spec.Ports {
				target := p.TargetPort
				if target.Type == intstr.Int && target.IntVal == 0 {
					target = intstr.FromInt32(p.Port)
				}
				cp, err := containerPort(c, target)
				if err != nil {
					t.Errorf("port %s: %v", p.Name, err)
					continue
				}
				if cp.Protocol != p.Protocol {
					t.Errorf("port %s is %s but targets %s container port %s", p.Name, p.Protocol, cp.Protocol, cp.Name)
				}
				got = append(got, fmt.Sprintf("%d/%s->%d", p.Port, p.Protocol, cp.ContainerPort))
			}
			sort.Strings(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ports = %v, want %v", got, tt.want)
			}
			isExternal := s.Spec.Type == corev1.ServiceTypeLoadBalancer || s.Spec.Type == corev1.ServiceTypeNodePort
			if isExternal && !tt.external {
				t.Errorf("type %s exposes %s outside the cluster", s.Spec.Type, tt.service)
			}
			if isExternal && s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
				t.Errorf("externalTrafficPolicy = %q, want Local (keeps client addresses in block logs)", s.Spec.ExternalTrafficPolicy)
			}
		})
	}
}

func TestPodDisruptionBudget(t *testing.T) {
	d := loadDeployment(t)
	pdb := loadPDB(t)
	if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != intstr.FromInt32(1) {
		t.Errorf("minAvailable = %v, want 1", deref(pdb.Spec.MinAvailable))
	}
	if pdb.Spec.MaxUnavailable != nil {
		t.Errorf("maxUnavailable set alongside minAvailable")
	}
	if !selects(t, pdb.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("selector %v does not match the Deployment's pods %v", pdb.Spec.Selector, d.Spec.Template.Labels)
	}
	if d.Spec.Replicas != nil && *d.Spec.Replicas <= pdb.Spec.MinAvailable.IntVal {
		t.Errorf("replicas %d <= minAvailable %d: no pod could ever be evicted", *d.Spec.Replicas, pdb.Spec.MinAvailable.IntVal)
	}
}

func TestHorizontalPodAutoscaler(t *testing.T) {
	d := loadDeployment(t)
	hpa := loadHPA(t)
	ref := hpa.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != d.Name {
		t.Errorf("scaleTargetRef = %+v, want apps/v1 Deployment %s", ref, d.Name)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 {
		t.Errorf("minReplicas = %v, want >= 2", deref(hpa.Spec.MinReplicas))
	} else {
		if hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
			t.Errorf("maxReplicas %d < minReplicas %d", hpa.Spec.MaxReplicas, *hpa.Spec.MinReplicas)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas != *hpa.Spec.MinReplicas {
			t.Errorf("Deployment replicas %v != HPA minReplicas %d", deref(d.Spec.Replicas), *hpa.Spec.MinReplicas)
		}
	}
	var cpu bool
	for _, m := range hpa.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
			m.Resource.Target.Type == autoscalingv2.UtilizationMetricType &&
			m.Resource.Target.AverageUtilization != nil && *m.Resource.Target.AverageUtilization > 0 {
			cpu = true
		}
	}
	if !cpu {
		t.Errorf("no CPU utilization metric in %+v", hpa.Spec.Metrics)
	}
	// Utilization is a percentage of the request: without one the HPA
	// cannot compute it.
	if req := dijkContainer(t, d).Resources.Requests[corev1.ResourceCPU]; req.Cmp(resource.MustParse("0")) <= 0 {
		t.Error("CPU utilization target but no CPU request")
	}
}

// dijkConfig mirrors Dijk's configuration keys; strict decoding turns an
// unknown or misspelt key into an error, as Dijk itself does.
type dijkConfig struct {
	Listen struct {
		DNS  []string `json:"dns"`
		HTTP string   `json:"http"`
	} `json:"listen"`
	Upstream struct {
		Servers []string `json:"servers"`
		Timeout string   `json:"timeout"`
	} `json:"upstream"`
	Blocklists []string `json:"blocklists"`
	Sinkhole   struct {
		Action string `json:"action"`
		IPv4   string `json:"ipv4"`
		IPv6   string `json:"ipv6"`
		TTL    string `json:"ttl"`
	} `json:"sinkhole"`
	Cache struct {
		Size   int    `json:"size"`
		MinTTL string `json:"min_ttl"`
		MaxTTL string `json:"max_ttl"`
	} `json:"cache"`
	Log struct {
		Level string `json:"level"`
		Hits  string `json:"hits"`
	} `json:"log"`
}

func parseDijkConfig(t *testing.T, what string, data []byte) dijkConfig {
	t.Helper()
	var cfg dijkConfig
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return cfg
}

func TestConfigMap(t *testing.T) {
	cm := loadConfigMap(t)
	d := loadDeployment(t)
	text, ok := cm.Data["dijk.yaml"]
	if !ok {
		t.Fatalf("ConfigMap %s has no dijk.yaml key (keys: %v)", cm.Name, slices.Sorted(maps.Keys(cm.Data)))
	}
	cfg := parseDijkConfig(t, "configmap.yaml dijk.yaml", []byte(text))

	checks := []struct {
		name  string
		check func() error
	}{
		{"listen.dns is [\":53\"]", func() error {
			if !slices.Equal(cfg.Listen.DNS, []string{":53"}) {
				return fmt.Errorf("listen.dns = %q", cfg.Listen.DNS)
			}
			return nil
		}},
		{"listen.http port is the probes' port", func() error {
			_, port, err := net.SplitHostPort(cfg.Listen.HTTP)
			if err != nil {
				return fmt.Errorf("listen.http %q: %v", cfg.Listen.HTTP, err)
			}
			if probe := dijkContainer(t, d).ReadinessProbe; probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Port.String() != port {
				return fmt.Errorf("listen.http port %s is not the readiness probe's port", port)
			}
			return nil
		}},
		{"durations parse", func() error {
			for name, v := range map[string]string{
				"upstream.timeout": cfg.Upstream.Timeout, "sinkhole.ttl": cfg.Sinkhole.TTL,
				"cache.min_ttl": cfg.Cache.MinTTL, "cache.max_ttl": cfg.Cache.MaxTTL,
			} {
				if _, err := time.ParseDuration(v); err != nil {
					return fmt.Errorf("%s: %v", name, err)
				}
			}
			return nil
		}},
		{"sinkhole action is known", func() error {
			if !slices.Contains([]string{"nxdomain", "null", "ip", "refused"}, cfg.Sinkhole.Action) {
				return fmt.Errorf("sinkhole.action = %q", cfg.Sinkhole.Action)
			}
			return nil
		}},
		{"upstream servers are IP:port", func() error {
			for _, s := range cfg.Upstream.Servers {
				host, _, err := net.SplitHostPort(s)
				if err != nil || net.ParseIP(host) == nil {
					return fmt.Errorf("upstream server %q is not IP:port", s)
				}
			}
			return nil
		}},
		{"blocks DeepSeek", func() error {
			if !slices.Contains(cfg.Blocklists, "builtin:deepseek") {
				return fmt.Errorf("blocklists = %v", cfg.Blocklists)
			}
			return nil
		}},
		{"same settings as the image's config, apart from upstream servers", func() error {
			data, err := os.ReadFile(filepath.Join("..", "container", "dijk.yaml"))
			if err != nil {
				return err
			}
			image := parseDijkConfig(t, "config/container/dijk.yaml", data)
			got := cfg
			got.Upstream.Servers, image.Upstream.Servers = nil, nil
			if !reflect.DeepEqual(got, image) {
				return fmt.Errorf("ConfigMap:\n%+v\ncontainer config:\n%+v", got, image)
			}
			return nil
		}},
	}
	for _, tt := range checks {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.check(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestNoTabs catches a tab in indentation, which YAML forbids and editors
// sometimes insert.
func TestNoTabs(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.IndexByte(data, '\t'); i >= 0 {
			t.Errorf("%s: tab at byte %d", f, i)
		}
	}
}
