package kube

import (
	"reflect"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type podOpt func(*corev1.Pod)

func testPod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "dev", UID: "uid-" + "name",
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
			Labels:            map[string]string{templateHashLabel: "h1"}},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func ready(p *corev1.Pod) {
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true, ContainerID: "containerd://1",
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
}

func running(p *corev1.Pod) {
	p.Status.Phase = corev1.PodRunning
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
}

func succeeded(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }

func waiting(reason, msg string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}
	}
}

func hash(h string) podOpt { return func(p *corev1.Pod) { p.Labels[templateHashLabel] = h } }

func createdAt(min int) podOpt {
	return func(p *corev1.Pod) {
		p.CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 1, 0, min, 0, 0, time.UTC))
	}
}

func ownedByJob(p *corev1.Pod) {
	p.OwnerReferences = []metav1.OwnerReference{ownerRef("Job", "j", "job")}
}

func completeJob(status corev1.ConditionStatus, t batchv1.JobConditionType) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j"},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: t, Status: status, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}}}}
}

func TestEvaluate(t *testing.T) {
	hashes := map[string]bool{"h1": true}
	probeEvent := &corev1.Event{Type: corev1.EventTypeWarning, Reason: "Unhealthy", Message: "Readiness probe failed: HTTP probe failed with statuscode: 503",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-1", Namespace: "dev"},
		LastTimestamp:  metav1.NewTime(time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC))}
	olderEvent := probeEvent.DeepCopy()
	olderEvent.Reason, olderEvent.Message = "FailedMount", "old"
	olderEvent.LastTimestamp = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC))
	tests := []struct {
		name       string
		o          observed
		want       State
		wantReason string
	}{
		{name: "no pods yet", o: observed{expectPods: true}, want: StatePending, wantReason: "waiting for pods"},
		{name: "service only is ready once applied", o: observed{}, want: StateReady},
		{name: "pod_readiness ignore", o: observed{expectPods: true, ignoreReadiness: true, pods: []*corev1.Pod{testPod("web-1", waiting("ImagePullBackOff", ""))}}, want: StateReady},
		{name: "all ready", o: observed{expectPods: true, templateHashes: hashes, pods: []*corev1.Pod{testPod("web-1", ready), testPod("web-2", ready)}}, want: StateReady},
		{name: "one not ready", o: observed{expectPods: true, pods: []*corev1.Pod{testPod("web-1", ready), testPod("web-2", running)}}, want: StatePending, wantReason: "pod web-2: not ready"},
		{name: "old rollout pod ignored", o: observed{expectPods: true, templateHashes: hashes, pods: []*corev1.Pod{testPod("web-1", ready), testPod("web-0", hash("h0"), waiting("CrashLoopBackOff", ""))}}, want: StateReady},
		{name: "only old pods", o: observed{expectPods: true, templateHashes: hashes, pods: []*corev1.Pod{testPod("web-0", hash("h0"), ready)}}, want: StatePending, wantReason: "waiting for pods"},
		{name: "terminating pod ignored", o: observed{expectPods: true, pods: []*corev1.Pod{testPod("web-1", ready), testPod("web-0", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{} })}}, want: StateReady},
		{name: "image pull backoff", o: observed{expectPods: true, pods: []*corev1.Pod{testPod("web-1", waiting("ImagePullBackOff", `Back-off pulling image "app"`))}},
			want: StateError, wantReason: `pod web-1 container app: ImagePullBackOff: Back-off pulling image "app"`},
		{name: "err image pull", o: observed{expectPods: true, pods: []*corev1.Pod{testPod("web-1", waiting("ErrImagePull", "not found"))}},
			want: StateError, wantReason: "ErrImagePull: not found"},
		{name: "crash loop names the last exit", o: observed{expectPods: true, pods: []*corev1.Pod{testPod("web-1", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", RestartCount: 4,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 3}}}}
		})}}, want: StateError, wantReason: "CrashLoopBackOff (last exit: Error, code 3)"},
		{name: "oom killed", o: observed{expectPods: true, pods: []*corev1.Pod{testPod("web-1", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}}
		})}}, want: StateError, wantReason: "OOMKilled"},
		{name: "init container config error", o: observed{expectPods: true, pods: []*corev1.Pod{testPod("web-1", func(p *corev1.Pod) {
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: `secret "db" not found`}}}}
		})}}, want: StateError, wantReason: `container init: CreateContainerConfigError: secret "db" not found`},
		{name: "evicted", o: observed{expectPods: true, pods: []*corev1.Pod{testPod("web-1", func(p *corev1.Pod) {
			p.Status.Phase, p.Status.Reason, p.Status.Message = corev1.PodFailed, "Evicted", "low on memory"
		})}}, want: StateError, wantReason: "pod web-1: Evicted: low on memory"},
		{name: "unschedulable", o: observed{expectPods: true, pods: []*corev1.Pod{testPod("web-1", func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available: insufficient cpu"}}
		})}}, want: StatePending, wantReason: "Unschedulable: 0/1 nodes are available: insufficient cpu"},
		{name: "failing readiness probe from the newest event", o: observed{expectPods: true, pods: []*corev1.Pod{testPod("web-1", running)},
			events: []*corev1.Event{olderEvent, probeEvent}}, want: StatePending, wantReason: "pod web-1: Unhealthy: Readiness probe failed"},
		{name: "container creating", o: observed{expectPods: true, pods: []*corev1.Pod{testPod("web-1", waiting("ContainerCreating", ""))}},
			want: StatePending, wantReason: "pod web-1 container app: ContainerCreating"},
		{name: "job succeeded", o: observed{expectPods: true, pods: []*corev1.Pod{testPod("j-1", succeeded, ownedByJob)}}, want: StateSucceeded},
		{name: "job running", o: observed{expectPods: true, pods: []*corev1.Pod{testPod("j-1", running, ownedByJob)}}, want: StatePending},
		{name: "job pod failed", o: observed{expectPods: true, pods: []*corev1.Pod{testPod("j-1", ownedByJob, func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}}}}
		})}}, want: StateError, wantReason: "pod j-1: Failed: container app exited with code 2 (Error)"},
		{name: "job succeeded after a retry", o: observed{expectPods: true,
			jobs: []*batchv1.Job{completeJob(corev1.ConditionTrue, batchv1.JobComplete)},
			pods: []*corev1.Pod{testPod("j-2", succeeded, ownedByJob, createdAt(2)), testPod("j-1", ownedByJob, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed })}},
			want: StateSucceeded},
		{name: "job complete, pods cleaned up", o: observed{expectPods: true, jobs: []*batchv1.Job{completeJob(corev1.ConditionTrue, batchv1.JobComplete)}}, want: StateSucceeded},
		{name: "job failed, pods cleaned up", o: observed{expectPods: true, jobs: []*batchv1.Job{completeJob(corev1.ConditionTrue, batchv1.JobFailed)}},
			want: StateError, wantReason: "job j: BackoffLimitExceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := evaluate(tt.o)
			if got.State != tt.want || !strings.Contains(got.Reason, tt.wantReason) {
				t.Errorf("evaluate(%s) = %s %q, want %s %q", tt.name, got.State, got.Reason, tt.want, tt.wantReason)
			}
			if len(got.Pods) != len(tt.o.pods) {
				t.Errorf("evaluate(%s) reported %d pods, want %d", tt.name, len(got.Pods), len(tt.o.pods))
			}
		})
	}
}

func TestEvaluateOrdersPods(t *testing.T) {
	got := evaluate(observed{expectPods: true, templateHashes: map[string]bool{"h1": true}, pods: []*corev1.Pod{
		testPod("old", hash("h0"), createdAt(5)), testPod("a", createdAt(1), ready), testPod("b", createdAt(3), ready),
	}})
	var names []string
	for _, p := range got.Pods {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "b,a,old" {
		t.Errorf("evaluate pods = %v, want current newest first, then old: b,a,old", names)
	}
}

// TestPodStatusImages: each container's status carries its spec's image
// (the reference devloop deployed), init containers their own.
func TestPodStatusImages(t *testing.T) {
	p := testPod("web-1", ready)
	p.Spec.InitContainers = []corev1.Container{{Name: "app", Image: "reg/init@sha256:1"}}
	p.Spec.Containers = []corev1.Container{{Name: "app", Image: "reg/app@sha256:2"}}
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://0"}}
	got := podStatus(p, nil).Containers
	want := []ContainerStatus{
		{Name: "app", ID: "containerd://0", Init: true, Image: "reg/init@sha256:1"},
		{Name: "app", ID: "containerd://1", Ready: true, Running: true, Image: "reg/app@sha256:2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("podStatus(web-1).Containers = %+v, want %+v", got, want)
	}
}
