# pmux: see README.md. Binaries go to bin/, never into the source tree.
GO       ?= go
BIN      := bin
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)

.PHONY: all build run test lint bench faults soak clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/pmux .
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/example-go ./examples/go

# Serves the Go example with 4 workers on 127.0.0.1:8000; Ctrl-C stops it.
run: build
	./$(BIN)/pmux run -w 4 -b 127.0.0.1:8000 -- ./$(BIN)/example-go

test:
	$(GO) vet ./...
	$(GO) test -race -timeout 9m ./...

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...

clean:
	rm -rf $(BIN)

# Benchmarks side by side with gunicorn and unicorn (bench/): loopback, every
# load bounded; writes BENCHMARKS.md. BENCH_IDLE shortens the 30 s idle
# measurement, BENCH_RUNS sets the repetitions (see bench/main.go).
bench: build
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/bench ./bench
	PMUX=$(BIN)/pmux BENCH_GO_APP=$(BIN)/example-go ./$(BIN)/bench

# The fault suite in its long form (a short form runs in make test): each
# fault repeated more often.
faults:
	PMUX_FAULTS=long $(GO) test -race -count=1 -timeout 20m -run '^TestFault' -v .

# make soak DURATION=10m: random reloads, scaling and upgrades under load.
DURATION     ?= 10m
SOAK_TIMEOUT ?= 3h
soak:
	PMUX_SOAK=$(DURATION) $(GO) test -race -count=1 -timeout $(SOAK_TIMEOUT) -run '^TestSoak$$' -v .

# Every fuzz target for FUZZTIME each, one after the other.
FUZZTIME ?= 10s
.PHONY: fuzz
fuzz:
	@set -e; for file in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		pkg=$$(dirname $$file); \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
			echo "fuzz $$pkg $$target for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done
