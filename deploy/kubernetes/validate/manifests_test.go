// Strict offline validation of deploy/kubernetes/*.yaml against the
// Kubernetes API types (k8s.io/api): every document decodes into its typed
// object with unknown fields refused, and the DaemonSet keeps the promises
// the deployment docs make (host namespaces, the unit's capabilities, mounts,
// probes on the ready file, tolerations, limits). Run: go test ./...
package validate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const dir = ".."

type object struct {
	file string
	kind string
	name string
	obj  any
}

// documents splits a YAML stream on "---" lines.
func documents(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if strings.TrimRight(sc.Text(), " ") == "---" {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
			cur.Reset()
			continue
		}
		cur.Write(sc.Bytes())
		cur.WriteByte('\n')
	}
	return append(docs, cur.Bytes())
}

// strictDecode: YAML → JSON → the typed object, as the API server decodes:
// field names case-sensitive, unknown and duplicate fields refused
// (encoding/json alone would take "hostPid" for hostPID).
func strictDecode(doc []byte, into any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(js, into, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func load(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	var out []object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range documents(data) {
			if len(bytes.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAll(doc, nil))) == 0 {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s #%d: %v", f, i, err)
			}
			var o any
			switch tm.APIVersion + "/" + tm.Kind {
			case "v1/Namespace":
				o = &corev1.Namespace{}
			case "v1/ServiceAccount":
				o = &corev1.ServiceAccount{}
			case "v1/ConfigMap":
				o = &corev1.ConfigMap{}
			case "v1/Secret":
				o = &corev1.Secret{}
			case "apps/v1/DaemonSet":
				o = &appsv1.DaemonSet{}
			default:
				t.Fatalf("%s #%d: kind %q %q is not one this test knows", f, i, tm.APIVersion, tm.Kind)
			}
			if err := strictDecode(doc, o); err != nil {
				t.Fatalf("%s #%d (%s): %v", f, i, tm.Kind, err)
			}
			name := o.(metav1.Object).GetName()
			out = append(out, object{file: filepath.Base(f), kind: tm.Kind, name: name, obj: o})
		}
	}
	return out
}

func TestStrictDecodeRefusesUnknownFields(t *testing.T) {
	// The check itself must be able to fail: a misspelt field is an error.
	bad := []byte("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      hostPid: true\n")
	if err := strictDecode(bad, &appsv1.DaemonSet{}); err == nil || !strings.Contains(err.Error(), "hostPid") {
		t.Fatalf("misspelt hostPid was accepted: %v", err)
	}
}

func TestManifestsDecodeStrictly(t *testing.T) {
	kinds := map[string]int{}
	for _, o := range load(t) {
		kinds[o.kind]++
		if ns := o.obj.(metav1.Object).GetNamespace(); o.kind != "Namespace" && ns != "droptrace" {
			t.Errorf("%s %s: namespace %q, want droptrace", o.kind, o.name, ns)
		}
	}
	for _, k := range []string{"Namespace", "ServiceAccount", "ConfigMap", "Secret", "DaemonSet"} {
		if kinds[k] != 1 {
			t.Errorf("want exactly one %s, have %d", k, kinds[k])
		}
	}
}

// unitCapabilities reads CapabilityBoundingSet= from the systemd unit: the
// DaemonSet must add exactly the same capabilities.
func unitCapabilities(t *testing.T) []string {
	data, err := os.ReadFile(filepath.Join(dir, "..", "systemd", "droptrace.service"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CapabilityBoundingSet=(.+)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("no CapabilityBoundingSet= in droptrace.service")
	}
	var caps []string
	for _, c := range strings.Fields(string(m[1])) {
		caps = append(caps, strings.TrimPrefix(c, "CAP_"))
	}
	sort.Strings(caps)
	return caps
}

func TestDaemonSet(t *testing.T) {
	var ds *appsv1.DaemonSet
	var cm *corev1.ConfigMap
	var sec *corev1.Secret
	var sa *corev1.ServiceAccount
	for _, o := range load(t) {
		switch v := o.obj.(type) {
		case *appsv1.DaemonSet:
			ds = v
		case *corev1.ConfigMap:
			cm = v
		case *corev1.Secret:
			sec = v
		case *corev1.ServiceAccount:
			sa = v
		}
	}
	if ds == nil || cm == nil || sec == nil || sa == nil {
		t.Fatal("missing DaemonSet, ConfigMap, Secret or ServiceAccount")
	}
	p := ds.Spec.Template.Spec
	check := func(ok bool, format string, a ...any) {
		t.Helper()
		if !ok {
			t.Errorf(format, a...)
		}
	}
	check(p.HostNetwork && p.HostPID, "hostNetwork and hostPID must be true")
	check(p.ServiceAccountName == sa.Name, "serviceAccountName %q, want %q", p.ServiceAccountName, sa.Name)
	check(ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType, "updateStrategy must be RollingUpdate")
	tolerateAll := false
	for _, tol := range p.Tolerations {
		tolerateAll = tolerateAll || (tol.Operator == corev1.TolerationOpExists && tol.Key == "" && tol.Effect == "")
	}
	check(tolerateAll, "a toleration {operator: Exists} for every node")
	sel := ds.Spec.Selector.MatchLabels
	for k, v := range sel {
		check(ds.Spec.Template.Labels[k] == v, "selector %s=%s does not match the pod labels", k, v)
	}
	check(len(p.Containers) == 1, "one container")
	c := p.Containers[0]
	sc := c.SecurityContext
	check(sc != nil && sc.Capabilities != nil, "securityContext.capabilities")
	var added []string
	for _, a := range sc.Capabilities.Add {
		added = append(added, string(a))
	}
	sort.Strings(added)
	check(fmt.Sprint(added) == fmt.Sprint(unitCapabilities(t)), "capabilities.add %v, want the unit's %v", added, unitCapabilities(t))
	check(len(sc.Capabilities.Drop) == 1 && sc.Capabilities.Drop[0] == "ALL", "capabilities.drop [ALL]")
	check(sc.Privileged != nil && !*sc.Privileged, "not privileged")
	check(sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation, "allowPrivilegeEscalation false")
	check(sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem, "readOnlyRootFilesystem")
	lim := c.Resources.Limits[corev1.ResourceMemory]
	check(lim.Cmp(resource.MustParse("512Mi")) == 0, "memory limit 512Mi (what the container test runs in), got %s", lim.String())
	_, hasReq := c.Resources.Requests[corev1.ResourceMemory]
	check(hasReq, "a memory request")
	for name, pr := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		check(pr != nil && pr.Exec != nil && strings.Join(pr.Exec.Command, " ") == "/usr/bin/cat /run/droptrace/ready", "%sProbe must read the ready file", name)
	}
	args := strings.Join(c.Args, " ")
	check(strings.Contains(args, "--ready-file /run/droptrace/ready") && strings.Contains(args, "--config /etc/droptrace/droptrace.yaml"), "args %q", args)

	vols := map[string]corev1.Volume{}
	for _, v := range p.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		_, ok := vols[m.Name]
		check(ok, "volumeMount %s has no volume", m.Name)
		mounts[m.MountPath] = m
	}
	for path, host := range map[string]string{"/sys/kernel/tracing": "/sys/kernel/tracing", "/sys/kernel/btf": "/sys/kernel/btf", "/run/netns": "/run/netns", "/var/lib/droptrace": "/var/lib/droptrace", "/var/log/droptrace": "/var/log/droptrace"} {
		m, ok := mounts[path]
		check(ok && vols[m.Name].HostPath != nil && vols[m.Name].HostPath.Path == host, "%s must be the host's %s", path, host)
	}
	netns := mounts["/run/netns"]
	check(netns.MountPropagation != nil && *netns.MountPropagation == corev1.MountPropagationHostToContainer, "/run/netns needs mountPropagation HostToContainer")
	check(vols[mounts["/etc/droptrace"].Name].ConfigMap != nil && vols[mounts["/etc/droptrace"].Name].ConfigMap.Name == cm.Name, "/etc/droptrace from the ConfigMap")
	check(vols[mounts["/etc/droptrace/secrets"].Name].Secret != nil && vols[mounts["/etc/droptrace/secrets"].Name].Secret.SecretName == sec.Name, "/etc/droptrace/secrets from the Secret")
	_, hasCfg := cm.Data["droptrace.yaml"]
	check(hasCfg, "ConfigMap key droptrace.yaml")
	for _, f := range regexp.MustCompile(`/etc/droptrace/secrets/([\w.-]+)`).FindAllStringSubmatch(cm.Data["droptrace.yaml"], -1) {
		_, ok := sec.StringData[f[1]]
		check(ok, "the config names secret file %s, which the Secret lacks", f[1])
	}
	check(p.TerminationGracePeriodSeconds != nil && *p.TerminationGracePeriodSeconds >= 30, "terminationGracePeriodSeconds >= 30 (flush on SIGTERM)")
}
