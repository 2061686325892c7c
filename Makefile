# devloop's build, test and benchmark entry points. See README.md and TESTING.md.
GO        ?= go
BIN       ?= bin/devloop
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)

.PHONY: all build test test-short lint fmt bench fuzz e2e-env e2e clean

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

clean:
	rm -rf bin
