# devloop's build, test and benchmark entry points. See README.md and TESTING.md.
GO        ?= go
BIN       ?= bin/devloop
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)

.PHONY: all build test test-short lint fmt bench fuzz e2e-env e2e-env-check e2e clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/devloop

# test is the command README.md and .ci/run give: vet, then every test with the race detector.
test: lint
	$(GO) test -race -count=1 ./...

test-short:
	$(GO) test -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin $(GO) build ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# bench runs the Go benchmarks and the harnesses under bench/; results go in BENCHMARKS.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@if [ -x bench/run ]; then bench/run; fi

# fuzz runs each fuzz target briefly (CI uses this).
FUZZTIME ?= 20s
fuzz:
	$(GO) test ./devfile -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME)

# e2e-env builds and starts the offline test environment (kind node image, registry and
# buildkitd images, host buildkitd and registry) and writes .e2e/env. Idempotent; see TESTING.md.
e2e-env:
	test/e2e/env/e2e-env.sh

# e2e-env-check proves e2e-env on a bare state: it removes the small packages, the busybox
# and registry images, the host registry's contents and .e2e/env, then runs e2e-env (which
# ends by checking what .e2e/env names). COLD=1 also removes the caches, every devloop-e2e
# image, the runc wrapper and stops dockerd. Root only: it changes the machine's packages.
e2e-env-check:
	test/e2e/env/fresh.sh $(if $(COLD),--cold)

# e2e runs every test with the environment of .e2e/env: the e2e-tagged tests (test/e2e) and the
# integration tests of the other packages, which fail instead of skipping under DEVLOOP_E2E=1.
# It depends on e2e-env, which takes seconds once built and restarts the host services
# (dockerd, buildkitd, registry) that do not outlive a session.
E2E_TIMEOUT ?= 40m
e2e: e2e-env
	@test -f .e2e/env || { echo "make e2e: .e2e/env is missing: run make e2e-env (TESTING.md)" >&2; exit 1; }
	. ./.e2e/env && DEVLOOP_E2E=1 $(GO) test -race -count=1 -tags e2e -timeout $(E2E_TIMEOUT) ./...

clean:
	rm -rf bin
