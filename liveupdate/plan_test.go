package liveupdate

import (
	"reflect"
	"testing"

	"github.com/devloop-dev/devloop/devfile"
)

func sh(script string) devfile.Cmd { return devfile.Cmd{Argv: []string{"sh", "-c", script}} }

// testImage is a typical node-style live_update: a fall_back_on, two syncs
// (one of a single file), a triggered run and an untriggered one.
func testImage() *devfile.Image {
	return &devfile.Image{Ref: "web", LiveUpdate: []devfile.LiveUpdateStep{
		{Type: devfile.StepFallBackOn, Paths: []string{"/src/package.json"}},
		{Type: devfile.StepSync, Local: "/src/app", Remote: "/app"},
		{Type: devfile.StepSync, Local: "/src/app/vendor", Remote: "/never"}, // shadowed by the first
		{Type: devfile.StepSync, Local: "/src/static", Remote: "/srv/static/"},
		{Type: devfile.StepSync, Local: "/src/config.yaml", Remote: "/etc/web/config.yaml"},
		{Type: devfile.StepRun, Cmd: sh("npm install"), Trigger: []string{"/src/app/deps.txt"}},
		{Type: devfile.StepRun, Cmd: sh("make assets"), Trigger: []string{"/src/static/*.scss"}},
		{Type: devfile.StepRun, Cmd: devfile.Cmd{Argv: []string{"touch", "/tmp/reload"}}, EchoOff: true},
	}}
}

var (
	runNPM    = Run{Argv: []string{"sh", "-c", "npm install"}}
	runAssets = Run{Argv: []string{"sh", "-c", "make assets"}}
	runTouch  = Run{Argv: []string{"touch", "/tmp/reload"}, EchoOff: true}
)

func withSteps(img *devfile.Image, steps ...devfile.LiveUpdateStep) *devfile.Image {
	img.LiveUpdate = append(img.LiveUpdate, steps...)
	return img
}

func TestDecide(t *testing.T) {
	restartOn := func(trigger ...string) *devfile.Image {
		img := testImage()
		img.RestartOnChange, img.RestartTrigger = true, trigger
		return img
	}
	tests := []struct {
		name string
		in   Input
		want Decision
	}{
		{
			name: "all under syncs",
			in:   Input{Image: testImage(), Running: true, Changed: []string{"/src/static/a.css", "/src/app/main.js", "/src/app/vendor/x.js"}},
			want: Decision{Action: Update, Plan: Plan{
				Copy: []Copy{
					{Local: "/src/app/main.js", Remote: "/app/main.js", Root: "/src/app"},
					{Local: "/src/app/vendor/x.js", Remote: "/app/vendor/x.js", Root: "/src/app"},
					{Local: "/src/static/a.css", Remote: "/srv/static/a.css", Root: "/src/static"},
				},
				Run: []Run{runTouch},
			}},
		},
		{
			name: "single-file sync",
			in:   Input{Image: testImage(), Running: true, Changed: []string{"/src/config.yaml"}},
			want: Decision{Action: Update, Plan: Plan{
				Copy: []Copy{{Local: "/src/config.yaml", Remote: "/etc/web/config.yaml", Root: "/src/config.yaml"}},
				Run:  []Run{runTouch},
			}},
		},
		{
			name: "run triggers match by path and by glob",
			in:   Input{Image: testImage(), Running: true, Changed: []string{"/src/app/deps.txt", "/src/static/site.scss"}},
			want: Decision{Action: Update, Plan: Plan{
				Copy: []Copy{
					{Local: "/src/app/deps.txt", Remote: "/app/deps.txt", Root: "/src/app"},
					{Local: "/src/static/site.scss", Remote: "/srv/static/site.scss", Root: "/src/static"},
				},
				Run: []Run{runNPM, runAssets, runTouch},
			}},
		},
		{
			name: "a changed directory holding a trigger runs it",
			in:   Input{Image: testImage(), Running: true, Changed: []string{"/src/app"}},
			want: Decision{Action: Update, Plan: Plan{
				Copy: []Copy{{Local: "/src/app", Remote: "/app", Root: "/src/app"}},
				Run:  []Run{runNPM, runTouch},
			}},
		},
		{
			name: "a file outside every sync rebuilds",
			in:   Input{Image: testImage(), Running: true, Dir: "/src", Changed: []string{"/src/app/main.js", "/src/b.go", "/src/a.go"}},
			want: Decision{Action: Rebuild, Reason: "Found file(s) not matching any sync: a.go, b.go"},
		},
		{
			name: "a sibling with a common prefix is not under the sync",
			in:   Input{Image: testImage(), Running: true, Dir: "/src", Changed: []string{"/src/application.js"}},
			want: Decision{Action: Rebuild, Reason: "Found file(s) not matching any sync: application.js"},
		},
		{
			name: "many strays are counted",
			in: Input{Image: testImage(), Running: true, Dir: "/src", Changed: []string{
				"/src/1", "/src/2", "/src/3", "/src/4", "/src/5", "/src/6", "/src/7"}},
			want: Decision{Action: Rebuild, Reason: "Found file(s) not matching any sync: 1, 2, 3, 4, 5 and 2 more"},
		},
		{
			name: "fall_back_on wins over syncs",
			in:   Input{Image: withSteps(testImage(), devfile.LiveUpdateStep{Type: devfile.StepFallBackOn, Paths: []string{"/src/app/lock"}}), Running: true, Dir: "/src", Changed: []string{"/src/app/lock/x", "/src/package.json"}},
			want: Decision{Action: Rebuild, Reason: "fall_back_on matched: app/lock/x, package.json"},
		},
		{
			name: "removing a directory that holds a fall_back_on path",
			in:   Input{Image: testImage(), Running: true, Dir: "/src", Removed: []string{"/src"}},
			want: Decision{Action: Rebuild, Reason: "fall_back_on matched: ."},
		},
		{
			name: "removed files and directories under syncs are deleted",
			in:   Input{Image: testImage(), Running: true, Removed: []string{"/src/static/old", "/src/app/lib"}, Changed: []string{"/src/app/lib2/a.js"}},
			want: Decision{Action: Update, Plan: Plan{
				Delete: []string{"/app/lib", "/srv/static/old"},
				Copy:   []Copy{{Local: "/src/app/lib2/a.js", Remote: "/app/lib2/a.js", Root: "/src/app"}},
				Run:    []Run{runTouch},
			}},
		},
		{
			name: "removed directory holding a trigger runs it",
			in:   Input{Image: testImage(), Running: true, Removed: []string{"/src/app"}},
			want: Decision{Action: Update, Plan: Plan{Delete: []string{"/app"}, Run: []Run{runNPM, runTouch}}},
		},
		{
			name: "removed directory above a sync root rebuilds",
			in:   Input{Image: &devfile.Image{LiveUpdate: []devfile.LiveUpdateStep{{Type: devfile.StepSync, Local: "/src/app", Remote: "/app"}}}, Running: true, Dir: "/", Removed: []string{"/src"}},
			want: Decision{Action: Rebuild, Reason: "Found file(s) not matching any sync: src"},
		},
		{
			name: "container not running holds",
			in:   Input{Image: testImage(), Changed: []string{"/src/app/main.js"}},
			want: Decision{Action: Hold, Reason: "container not running: changes held until it runs"},
		},
		{
			name: "a change that would rebuild anyway is not held",
			in:   Input{Image: testImage(), Dir: "/src", Changed: []string{"/src/main.go"}},
			want: Decision{Action: Rebuild, Reason: "Found file(s) not matching any sync: main.go"},
		},
		{
			name: "no change",
			in:   Input{Image: testImage(), Running: true, FirstSight: true},
			want: Decision{Action: None},
		},
		{
			name: "initial_sync on first sight sends every sync root",
			in:   Input{Image: withSteps(testImage(), devfile.LiveUpdateStep{Type: devfile.StepInitialSync}), Running: true, FirstSight: true, Changed: []string{"/src/app/main.js"}},
			want: Decision{Action: Update, Plan: Plan{
				Copy: []Copy{
					{Local: "/src/app", Remote: "/app", Root: "/src/app"},
					{Local: "/src/config.yaml", Remote: "/etc/web/config.yaml", Root: "/src/config.yaml"},
					{Local: "/src/app/vendor", Remote: "/never", Root: "/src/app/vendor"},
					{Local: "/src/static", Remote: "/srv/static", Root: "/src/static"},
				},
				Run: []Run{runNPM, runAssets, runTouch},
			}},
		},
		{
			name: "initial_sync only on first sight",
			in:   Input{Image: withSteps(testImage(), devfile.LiveUpdateStep{Type: devfile.StepInitialSync}), Running: true, Changed: []string{"/src/app/main.js"}},
			want: Decision{Action: Update, Plan: Plan{
				Copy: []Copy{{Local: "/src/app/main.js", Remote: "/app/main.js", Root: "/src/app"}},
				Run:  []Run{runTouch},
			}},
		},
		{
			name: "restart_container rebuilds",
			in:   Input{Image: withSteps(testImage(), devfile.LiveUpdateStep{Type: devfile.StepRestartContainer}), Running: true, Changed: []string{"/src/app/main.js"}},
			want: Decision{Action: Rebuild, Reason: "restart_container(): rebuilding so that the process restarts with the changes"},
		},
		{
			name: "restart_process with a matching trigger rebuilds",
			in:   Input{Image: restartOn("/src/app/server.js"), Running: true, Changed: []string{"/src/app/server.js"}},
			want: Decision{Action: Rebuild, Reason: "restart_container(): rebuilding so that the process restarts with the changes"},
		},
		{
			name: "restart_process with another trigger live-updates",
			in:   Input{Image: restartOn("/src/app/server.js"), Running: true, Changed: []string{"/src/app/page.html"}},
			want: Decision{Action: Update, Plan: Plan{
				Copy: []Copy{{Local: "/src/app/page.html", Remote: "/app/page.html", Root: "/src/app"}},
				Run:  []Run{runTouch},
			}},
		},
		{
			name: "no sync at all",
			in:   Input{Image: &devfile.Image{LiveUpdate: []devfile.LiveUpdateStep{{Type: devfile.StepRun, Cmd: sh("true")}}}, Running: true, Changed: []string{"/src/a"}},
			want: Decision{Action: Rebuild, Reason: "the image has no live_update sync()"},
		},
		{
			name: "relative container path",
			in:   Input{Image: &devfile.Image{LiveUpdate: []devfile.LiveUpdateStep{{Type: devfile.StepSync, Local: "/src", Remote: "app"}}}, Running: true, Changed: []string{"/src/a"}},
			want: Decision{Action: Rebuild, Reason: "sync(/src, app): the container path must be absolute"},
		},
		{
			name: "container paths are cleaned",
			in:   Input{Image: &devfile.Image{LiveUpdate: []devfile.LiveUpdateStep{{Type: devfile.StepSync, Local: "/src", Remote: "/app/./x/../y/"}}}, Running: true, Changed: []string{"/src/a/../b"}},
			want: Decision{Action: Update, Plan: Plan{Copy: []Copy{{Local: "/src/b", Remote: "/app/y/b", Root: "/src"}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decide(%+v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}
