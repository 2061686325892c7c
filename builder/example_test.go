package builder_test

import (
	"context"
	"fmt"
	"log"

	"github.com/devloop-dev/devloop/builder"
	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kube/localregistry"
)

// The engine's use: the registry from the cluster's KEP-1755 ConfigMap (or
// default_registry), one Builder for the session, BuildAll on every change
// with the refs whose inputs changed; the results' ClusterReference goes
// into the manifests. (Not run: it needs BuildKit and a registry.)
func ExampleBuilder_BuildAll() {
	ctx := context.Background()
	configMapData := map[string]string{localregistry.Key: "host: localhost:5001\nhostFromContainerRuntime: kind-registry:5000\n"}
	reg, err := localregistry.Parse(configMapData)
	if err != nil || reg == nil {
		log.Fatal(err) // the engine would fall back to Model.Settings.DefaultRegistry
	}
	b, err := builder.New(builder.Config{
		Registry: *reg,
		OnProgress: func(ref string, ev builder.Progress) {
			if ev.Kind == builder.ProgressStep && ev.Done {
				fmt.Printf("%s: %s (cached %v, %v)\n", ref, ev.Step, ev.Cached, ev.Duration)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	ep, err := b.Endpoint(ctx)
	if err != nil {
		log.Fatal(err) // names the address tried and how to fix it
	}
	fmt.Printf("building with BuildKit at %s (%s)\n", ep.Address, ep.Reason)

	var model devfile.Model // from devfile.Load
	results, err := b.BuildAll(ctx, model.Images, "app")
	if err != nil {
		log.Print(err) // *builder.BuildError names the Dockerfile line and shows the step's output
	}
	for ref, r := range results {
		fmt.Println(ref, r.ClusterReference, r.Unchanged)
	}
}
