package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func ownerRef(kind, name, uid string) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{Kind: kind, Name: name, UID: types.UID(uid), Controller: &yes}
}

func TestOwnedBy(t *testing.T) {
	owners := map[string][]metav1.OwnerReference{
		"ReplicaSet/web-abc":     {ownerRef("Deployment", "web", "dep-uid")},
		"ReplicaSet/orphan-rs":   nil,
		"Job/nightly-123":        {ownerRef("CronJob", "nightly", "cron-uid")},
		"Job/migrate":            {ownerRef("Job", "migrate", "loop-uid")},
		"Rollout/canary":         {ownerRef("Deployment", "x", "never")},
		"ReplicaSet/canary-1234": {ownerRef("Rollout", "canary", "rollout-uid")},
	}
	lookup := func(kind, ns, name string) ([]metav1.OwnerReference, bool) {
		r, ok := owners[kind+"/"+name]
		return r, ok
	}
	roots := map[types.UID]bool{"dep-uid": true, "cron-uid": true, "sts-uid": true, "pod-uid": true, "job-uid": true, "rollout-uid": true}
	pod := func(uid string, refs ...metav1.OwnerReference) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "dev", UID: types.UID(uid), OwnerReferences: refs}}
	}
	tests := []struct {
		name string
		pod  *corev1.Pod
		want types.UID
	}{
		{name: "deployment through replicaset", pod: pod("p1", ownerRef("ReplicaSet", "web-abc", "rs-uid")), want: "dep-uid"},
		{name: "statefulset directly", pod: pod("p2", ownerRef("StatefulSet", "db", "sts-uid")), want: "sts-uid"},
		{name: "job directly", pod: pod("p3", ownerRef("Job", "once", "job-uid")), want: "job-uid"},
		{name: "cronjob through job", pod: pod("p4", ownerRef("Job", "nightly-123", "j-uid")), want: "cron-uid"},
		{name: "bare pod applied itself", pod: pod("pod-uid"), want: "pod-uid"},
		{name: "crd through replicaset", pod: pod("p5", ownerRef("ReplicaSet", "canary-1234", "rs2")), want: "rollout-uid"},
		{name: "replicaset of someone else", pod: pod("p6", ownerRef("ReplicaSet", "orphan-rs", "rs3")), want: ""},
		{name: "unknown owner", pod: pod("p7", ownerRef("ReplicaSet", "gone", "rs4")), want: ""},
		{name: "owner cycle ends", pod: pod("p8", ownerRef("Job", "migrate", "loop-uid2")), want: ""},
		{name: "no owners", pod: pod("p9"), want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ownedBy(tt.pod, roots, lookup); got != tt.want {
				t.Errorf("ownedBy(%s) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}

func TestMatchesAny(t *testing.T) {
	labels := map[string]string{"app": "web", "tier": "fe"}
	tests := []struct {
		name      string
		selectors []map[string]string
		want      bool
	}{
		{name: "subset", selectors: []map[string]string{{"app": "web"}}, want: true},
		{name: "second matches", selectors: []map[string]string{{"app": "db"}, {"tier": "fe"}}, want: true},
		{name: "value differs", selectors: []map[string]string{{"app": "db"}}, want: false},
		{name: "empty selector matches nothing", selectors: []map[string]string{{}}, want: false},
		{name: "none", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := matchesAny(labels, tt.selectors); got != tt.want {
				t.Errorf("matchesAny(%v, %v) = %v, want %v", labels, tt.selectors, got, tt.want)
			}
		})
	}
}
