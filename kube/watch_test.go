package kube

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// waitFor reads statuses until want arrives; the test's deadline bounds it.
func waitFor(t *testing.T, ch <-chan Status, want State) Status {
	t.Helper()
	for {
		select {
		case st := <-ch:
			if st.State == want {
				return st
			}
		case <-t.Context().Done():
			t.Fatalf("Watch: never reported %s", want)
		}
	}
}

func TestWatchFollowsOwnerReferences(t *testing.T) {
	yes := true
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "dev", UID: "rs-uid",
		OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "web", UID: "dep-uid", Controller: &yes}}}}
	pod := testPod("web-abc-1", running)
	pod.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-abc", UID: "rs-uid", Controller: &yes}}
	stranger := testPod("other", waiting("CrashLoopBackOff", ""))
	cs := fake.NewClientset(rs, pod, stranger)
	c := newClient(Config{Context: "kind-test", Namespace: "dev"}, nil, cs, nil, nil)
	defer c.Close()

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	ch := make(chan Status, 16)
	done := make(chan error, 1)
	target := Target{Applied: []Applied{{Ref: Ref{Kind: "Deployment", Name: "web", Namespace: "dev", UID: "dep-uid"}, RunsPods: true, TemplateHashes: []string{"h1"}}}}
	go func() { done <- c.Watch(ctx, target, func(st Status) { ch <- st }) }()

	st := waitFor(t, ch, StatePending)
	if len(st.Pods) != 1 || st.Pods[0].Name != "web-abc-1" {
		t.Errorf("Watch pods = %+v, want only web-abc-1 (found through its ReplicaSet)", st.Pods)
	}
	ready(pod)
	if _, err := cs.CoreV1().Pods("dev").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, StateReady)

	crash := pod.DeepCopy()
	waiting("CrashLoopBackOff", "")(crash)
	if _, err := cs.CoreV1().Pods("dev").UpdateStatus(ctx, crash, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := waitFor(t, ch, StateError); st.Reason != "pod web-abc-1 container app: CrashLoopBackOff" {
		t.Errorf("Watch reason = %q, want the crash loop of web-abc-1", st.Reason)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Watch after cancel = %v, want context.Canceled", err)
	}
}

func TestWatchExtraSelectors(t *testing.T) {
	pod := testPod("db-0", ready)
	pod.Labels["app"] = "db"
	cs := fake.NewClientset(pod, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "dev", Labels: map[string]string{"app": "x"}}})
	c := newClient(Config{Context: "kind-test", Namespace: "dev"}, nil, cs, nil, nil)
	defer c.Close()
	ch := make(chan Status, 16)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	go func() {
		_ = c.Watch(ctx, Target{ExtraSelectors: []map[string]string{{"app": "db"}}}, func(st Status) { ch <- st })
	}()
	st := waitFor(t, ch, StateReady)
	if len(st.Pods) != 1 || st.Pods[0].Name != "db-0" {
		t.Errorf("Watch(extra selector app=db) pods = %+v, want db-0", st.Pods)
	}
}

// TestRewatch: after Rewatch a running Watch reports the status again,
// from new informers (which list at once), and follows them.
func TestRewatch(t *testing.T) {
	pod := testPod("db-0", ready)
	pod.Labels["app"] = "db"
	cs := fake.NewClientset(pod)
	c := newClient(Config{Context: "kind-test", Namespace: "dev"}, nil, cs, nil, nil)
	defer c.Close()
	ch := make(chan Status, 16)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- c.Watch(ctx, Target{ExtraSelectors: []map[string]string{{"app": "db"}}}, func(st Status) { ch <- st })
	}()
	waitFor(t, ch, StateReady)
	c.watch.mu.Lock()
	old := c.watch.caches["dev"]
	c.watch.mu.Unlock()

	c.Rewatch()
	waitFor(t, ch, StateReady) // unchanged, but reported again
	c.watch.mu.Lock()
	now := c.watch.caches["dev"]
	c.watch.mu.Unlock()
	if now == nil || now == old {
		t.Fatalf("informers of dev after Rewatch = %p, want new ones (old %p)", now, old)
	}
	crash := pod.DeepCopy()
	waiting("CrashLoopBackOff", "")(crash)
	if _, err := cs.CoreV1().Pods("dev").UpdateStatus(ctx, crash, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, StateError)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Watch after cancel = %v, want context.Canceled", err)
	}
}
