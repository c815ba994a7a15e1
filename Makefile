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
