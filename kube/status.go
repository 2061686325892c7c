package kube

import (
	"fmt"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// State is how far a resource's pods have come.
type State string

const (
	// StatePending: pods are not all ready yet, or none exists yet.
	StatePending State = "pending"
	// StateReady: every current pod is ready (or, for pods that run to
	// completion, has succeeded), or pod readiness is ignored.
	StateReady State = "ready"
	// StateSucceeded: every current pod ran to completion (Jobs).
	StateSucceeded State = "succeeded"
	// StateError: a pod cannot start or keeps failing; Reason says why.
	StateError State = "error"
)

// Status is a resource's state as its pods show it.
type Status struct {
	State State `json:"state"`
	// Reason explains an error or what a pending resource waits for,
	// e.g. "pod web-7d9 container web: ImagePullBackOff: ...".
	Reason string `json:"reason,omitempty"`
	// Pods are the resource's pods, current rollout first, newest first.
	Pods []PodStatus `json:"pods"`
}

// PodStatus is one pod of a resource.
type PodStatus struct {
	Name      string          `json:"name"`
	Namespace string          `json:"namespace"`
	Phase     corev1.PodPhase `json:"phase"`
	Ready     bool            `json:"ready"`
	// Current is false for pods of an older rollout and for deleted pods.
	Current    bool              `json:"current"`
	Created    time.Time         `json:"created"`
	Restarts   int32             `json:"restarts"`
	Containers []ContainerStatus `json:"containers"`
}

// ContainerStatus is one container (or init container) of a pod.
type ContainerStatus struct {
	Name string `json:"name"`
	// ID is the runtime's container ID; it changes when the container restarts.
	ID string `json:"id,omitempty"`
	// Image is the image of the pod's spec (the deployed reference devloop
	// injected), not the runtime's resolved one.
	Image    string `json:"image,omitempty"`
	Init     bool   `json:"init,omitempty"`
	Ready    bool   `json:"ready"`
	Running  bool   `json:"running"`
	Restarts int32  `json:"restarts"`
	// Reason is the waiting or terminated reason (ImagePullBackOff, OOMKilled, ...).
	Reason string `json:"reason,omitempty"`
}

// observed is what the cluster shows of one resource: the input of evaluate.
type observed struct {
	pods   []*corev1.Pod
	events []*corev1.Event
	jobs   []*batchv1.Job
	// templateHashes are the templateHashLabel values of the applied pod
	// templates; pods with another value belong to an older rollout. Empty
	// means every pod is current.
	templateHashes map[string]bool
	// ignoreReadiness is pod_readiness="ignore": applied is enough.
	ignoreReadiness bool
	// expectPods is false when nothing applied runs pods (only a Service, a
	// ConfigMap...): such a resource is ready once applied, as in Tilt.
	expectPods bool
}

// waitingErrors are container waiting reasons that mean the pod cannot start
// without a change from the user.
var waitingErrors = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true, "ErrImageNeverPull": true,
	"CrashLoopBackOff": true, "CreateContainerConfigError": true, "CreateContainerError": true,
	"RunContainerError": true, "PreStartHookError": true, "PostStartHookError": true,
}

// evaluate decides a resource's Status from what the cluster shows, as Tilt
// does: ready when every current pod is ready (pods that run to completion:
// succeeded), succeeded when every current pod succeeded, error when a
// container cannot start, crash-loops or was OOM-killed or a pod failed.
func evaluate(o observed) Status {
	st := Status{State: StatePending}
	pods := make([]*corev1.Pod, len(o.pods))
	copy(pods, o.pods)
	sort.SliceStable(pods, func(i, j int) bool {
		return pods[i].CreationTimestamp.After(pods[j].CreationTimestamp.Time)
	})
	var current []*corev1.Pod
	jobsDone := len(o.jobs) > 0 && allJobsComplete(o.jobs)
	for _, p := range pods {
		ps := podStatus(p, o.templateHashes)
		st.Pods = append(st.Pods, ps)
		// A Job that completed after retries keeps its failed pods: they
		// no longer count.
		if jobsDone && p.Status.Phase == corev1.PodFailed && controllerKind(p) == "Job" {
			ps.Current = false
			st.Pods[len(st.Pods)-1].Current = false
		}
		if ps.Current {
			current = append(current, p)
		}
	}
	sort.SliceStable(st.Pods, func(i, j int) bool { return st.Pods[i].Current && !st.Pods[j].Current })

	if o.ignoreReadiness || !o.expectPods {
		st.State = StateReady
		return st
	}
	for _, p := range current {
		if reason := podError(p); reason != "" {
			st.State, st.Reason = StateError, reason
			return st
		}
	}
	if len(current) == 0 {
		if jobsDone {
			st.State = StateSucceeded
			return st
		}
		if reason := jobFailure(o.jobs); reason != "" {
			st.State, st.Reason = StateError, reason
			return st
		}
		st.Reason = "waiting for pods"
		return st
	}
	succeeded, ready := 0, 0
	for _, p := range current {
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			succeeded++
		case podReady(p):
			ready++
		}
	}
	switch {
	case succeeded == len(current):
		st.State = StateSucceeded
	case succeeded+ready == len(current):
		st.State = StateReady
	default:
		st.Reason = pendingReason(current, o.events)
	}
	return st
}

func isCurrent(p *corev1.Pod, hashes map[string]bool) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	if len(hashes) == 0 {
		return true
	}
	h, ok := p.Labels[templateHashLabel]
	return !ok || hashes[h]
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podStatus(p *corev1.Pod, hashes map[string]bool) PodStatus {
	ps := PodStatus{
		Name: p.Name, Namespace: p.Namespace, Phase: p.Status.Phase, Ready: podReady(p),
		Current: isCurrent(p, hashes), Created: p.CreationTimestamp.Time,
	}
	images := map[string]string{}
	for _, c := range p.Spec.InitContainers {
		images["init/"+c.Name] = c.Image
	}
	for _, c := range p.Spec.Containers {
		images[c.Name] = c.Image
	}
	add := func(cs corev1.ContainerStatus, init bool) {
		c := ContainerStatus{Name: cs.Name, ID: cs.ContainerID, Init: init, Ready: cs.Ready, Restarts: cs.RestartCount, Running: cs.State.Running != nil}
		if init {
			c.Image = images["init/"+cs.Name]
		} else {
			c.Image = images[cs.Name]
		}
		switch {
		case cs.State.Waiting != nil:
			c.Reason = cs.State.Waiting.Reason
		case cs.State.Terminated != nil:
			c.Reason = cs.State.Terminated.Reason
		}
		ps.Restarts += cs.RestartCount
		ps.Containers = append(ps.Containers, c)
	}
	for _, cs := range p.Status.InitContainerStatuses {
		add(cs, true)
	}
	for _, cs := range p.Status.ContainerStatuses {
		add(cs, false)
	}
	return ps
}

// podError returns why p cannot run, or "".
func podError(p *corev1.Pod) string {
	prefix := "pod " + p.Name
	if p.Status.Phase == corev1.PodFailed {
		why := p.Status.Reason
		if why == "" {
			why = "Failed"
		}
		if msg := p.Status.Message; msg != "" {
			why += ": " + msg
		} else if c := failedContainer(p); c != "" {
			why += ": " + c
		}
		return prefix + ": " + why
	}
	check := func(cs corev1.ContainerStatus) string {
		where := prefix + " container " + cs.Name + ": "
		if w := cs.State.Waiting; w != nil && waitingErrors[w.Reason] {
			msg := w.Reason
			if w.Reason == "CrashLoopBackOff" {
				if t := cs.LastTerminationState.Terminated; t != nil {
					msg += fmt.Sprintf(" (last exit: %s, code %d)", orDefault(t.Reason, "Error"), t.ExitCode)
				}
			} else if w.Message != "" {
				msg += ": " + w.Message
			}
			return where + msg
		}
		if t := cs.State.Terminated; t != nil && t.Reason == "OOMKilled" {
			return where + "OOMKilled: the container used more memory than its limit; raise resources.limits.memory"
		}
		if t := cs.LastTerminationState.Terminated; t != nil && t.Reason == "OOMKilled" && cs.State.Running == nil {
			return where + "OOMKilled: the container used more memory than its limit; raise resources.limits.memory"
		}
		return ""
	}
	for _, cs := range p.Status.InitContainerStatuses {
		if s := check(cs); s != "" {
			return s
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if s := check(cs); s != "" {
			return s
		}
	}
	return ""
}

func failedContainer(p *corev1.Pod) string {
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			return fmt.Sprintf("container %s exited with code %d (%s)", cs.Name, t.ExitCode, orDefault(t.Reason, "Error"))
		}
	}
	return ""
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// pendingReason says what the first not-ready pod waits for: unschedulable,
// a failing probe (from the newest Warning event), pulling, or not ready.
func pendingReason(pods []*corev1.Pod, events []*corev1.Event) string {
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded || podReady(p) {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				return "pod " + p.Name + ": Unschedulable: " + c.Message
			}
		}
		if ev := newestWarning(p, events); ev != nil {
			return "pod " + p.Name + ": " + ev.Reason + ": " + strings.TrimSpace(ev.Message)
		}
		for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			if w := cs.State.Waiting; w != nil && w.Reason != "" {
				return "pod " + p.Name + " container " + cs.Name + ": " + w.Reason
			}
		}
		return "pod " + p.Name + ": not ready"
	}
	return ""
}

// newestWarning returns the newest Warning event about pod p since it was created.
func newestWarning(p *corev1.Pod, events []*corev1.Event) *corev1.Event {
	var best *corev1.Event
	for _, ev := range events {
		if ev.Type != corev1.EventTypeWarning || ev.InvolvedObject.Kind != "Pod" || ev.InvolvedObject.Name != p.Name ||
			(ev.InvolvedObject.UID != "" && ev.InvolvedObject.UID != p.UID) {
			continue
		}
		if best == nil || eventTime(ev).After(eventTime(best)) {
			best = ev
		}
	}
	return best
}

func eventTime(ev *corev1.Event) time.Time {
	switch {
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	}
	return ev.CreationTimestamp.Time
}

func allJobsComplete(jobs []*batchv1.Job) bool {
	for _, j := range jobs {
		if !jobCondition(j, batchv1.JobComplete) {
			return false
		}
	}
	return true
}

func jobFailure(jobs []*batchv1.Job) string {
	for _, j := range jobs {
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				return "job " + j.Name + ": " + orDefault(c.Reason, "Failed") + ": " + c.Message
			}
		}
	}
	return ""
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func controllerKind(p *corev1.Pod) string {
	for _, r := range p.OwnerReferences {
		if r.Controller != nil && *r.Controller {
			return r.Kind
		}
	}
	return ""
}
