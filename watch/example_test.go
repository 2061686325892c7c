package watch_test

import (
	"context"
	"fmt"
	"log"
	"os/signal"
	"syscall"

	"github.com/devloop-dev/devloop/watch"
)

// A consumer watches a project and an image context with its .dockerignore,
// and maps each batch back to the context with the same rules.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT)
	defer stop()

	dockerignore, err := watch.ReadIgnoreFile("/src/app/.dockerignore")
	if err != nil {
		log.Fatal(err)
	}
	global, err := watch.ReadIgnoreFile("/src/.devloopignore")
	if err != nil {
		log.Fatal(err)
	}
	app := watch.Root{Path: "/src/app", Ignore: dockerignore}
	w, err := watch.New(watch.Config{
		Roots:      []watch.Root{{Path: "/src/Devfile"}, app},
		Ignore:     global,
		GlobalBase: "/src",
	})
	if err != nil {
		log.Fatal(err)
	}
	appFilter, err := watch.NewFilter(app)
	if err != nil {
		log.Fatal(err)
	}

	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	for b := range w.Batches() {
		for _, p := range append(b.Changed, b.Removed...) {
			if appFilter.Match(p) {
				fmt.Println("rebuild app for", p)
			}
		}
	}
	if err := <-errc; err != nil {
		log.Fatal(err) // a *watch.LimitError says how to raise the inotify limit
	}
}
