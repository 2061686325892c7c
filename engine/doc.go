// Package engine is devloop's control loop. One goroutine owns all state
// (resources, their phases, update history, queued changes) and does no
// blocking I/O; workers (local processes, builds and deploys, pod watches)
// report back on a channel. Readers get copied Views.
//
// The files, by role:
//
//   - engine.go: the Engine's face: Config, New, Run, Snapshot, Subscribe,
//     Logs, Trigger, SetEnabled.
//   - loop.go: the loop: its state, the messages it handles, a new model
//     (apply, reload), requests, scheduling, refresh and publish, shutdown.
//   - resource.go: the resource and its lifecycle: init, changes, trigger,
//     stop, finish; its viewKey and view.
//   - worker.go: the one path of an update's worker: start, begin, the
//     worker's steps, end; ready and fail end an update; update slots.
//   - files.go: file watching: the Watcher, each resource's filters,
//     rewatch, batches mapped to resources.
//   - image.go: images: the Builder, the image set, which resources use
//     which image, build progress.
//   - cluster.go: the cluster: Cluster, Forwarder, Pinger, Rewatcher,
//     Kube, the wait for Config.Kube, the ping, the recovery after an
//     outage.
//   - local.go: what is local_resource's own: cmd and serve_cmd, the
//     readiness probe.
//   - k8s.go: what is a Kubernetes resource's own: build, resource_deps
//     gate, apply, following its pods (status, logs, port-forwards).
//   - live.go: live update: trackers, the decision, syncs.
//   - logs.go, subscribe.go, view.go: the log store, Subscribe's
//     channels, the View types.
//
// The loop's rules:
//
//   - Only the loop goroutine reads or writes loop state. It blocks on
//     nothing but its channels: files are read before it starts or by the
//     reload worker, and processes, builds and cluster calls run in
//     workers.
//   - A worker gets a copy of what it needs and reports in messages that
//     carry its work (resource and generation). A message from a
//     generation the resource no longer runs, or from a worker stop()
//     disowned, changes nothing.
//   - Handlers change state and do not say so: after each message the loop
//     schedules, then refresh compares every resource's viewKey, and a new
//     View is published when one changed (or dirty: the Devfile's status,
//     the cluster's, the logs).
//   - A View is a copy: the loop never changes what it handed out, and an
//     unchanged resource's view is shared between Views. Subscribers get
//     the latest View, never a lock.
//   - Every goroutine the loop starts is a goWorker: Run waits for them.
package engine
