# pmux: see README.md. Binaries go to bin/, never into the source tree.
GO       ?= go
BIN      := bin
# The version stamped into make build and make release. Outside a git
# checkout nothing is stamped and pmux reports its build info's version.
ifeq ($(origin VERSION),undefined)
VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null)
endif
LDFLAGS  := -s -w $(if $(VERSION),-X github.com/pmux/pmux/command.version=$(VERSION))
BUILD    := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'

.PHONY: all build run test lint bench faults soak clean install uninstall release

all: build

build:
	$(BUILD) -o $(BIN)/pmux .
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/example-go ./examples/go

# Serves the Go example with 4 workers on 127.0.0.1:8000 (PMUX_BIND=ADDR
# for another address); Ctrl-C stops it.
PMUX_BIND ?= 127.0.0.1:8000
run: build
	$(BIN)/pmux run -w 4 -b $(PMUX_BIND) -- $(BIN)/example-go

# make install [PREFIX=/usr/local] [DESTDIR=/staging/root]: the binary, the
# man page pmux(1) and the bash, zsh and fish completions, all three written
# by the binary itself from its command definitions, and the docs with the
# example systemd units. make uninstall removes exactly these files (and the
# share/doc/pmux directories once empty). INSTALL_BIN installs a binary
# built elsewhere instead of building bin/pmux.
PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
DOCDIR      ?= $(PREFIX)/share/doc/pmux
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
INSTALL_BIN ?= $(BIN)/pmux
INSTALL     ?= install

UNITS     := examples/systemd/pmux-app.service examples/systemd/pmux-app.socket
INSTALLED := $(BINDIR)/pmux $(MANDIR)/man1/pmux.1 \
	$(BASHCOMPDIR)/pmux $(ZSHCOMPDIR)/_pmux $(FISHCOMPDIR)/pmux.fish \
	$(DOCDIR)/README.md $(addprefix $(DOCDIR)/systemd/,$(notdir $(UNITS)))

install: $(if $(filter $(BIN)/pmux,$(INSTALL_BIN)),build)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR)/systemd \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	$(INSTALL) -m 0755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/pmux
	$(INSTALL_BIN) man > $(DESTDIR)$(MANDIR)/man1/pmux.1
	$(INSTALL_BIN) completion bash > $(DESTDIR)$(BASHCOMPDIR)/pmux
	$(INSTALL_BIN) completion zsh > $(DESTDIR)$(ZSHCOMPDIR)/_pmux
	$(INSTALL_BIN) completion fish > $(DESTDIR)$(FISHCOMPDIR)/pmux.fish
	chmod 0644 $(DESTDIR)$(MANDIR)/man1/pmux.1 $(DESTDIR)$(BASHCOMPDIR)/pmux \
		$(DESTDIR)$(ZSHCOMPDIR)/_pmux $(DESTDIR)$(FISHCOMPDIR)/pmux.fish
	$(INSTALL) -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	$(INSTALL) -m 0644 $(UNITS) $(DESTDIR)$(DOCDIR)/systemd

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	@for dir in $(DESTDIR)$(DOCDIR)/systemd $(DESTDIR)$(DOCDIR); do \
		if [ -d "$$dir" ]; then rmdir "$$dir" 2>/dev/null || echo "kept $$dir: not empty"; fi; \
	done

# make release [VERSION=v1.2.3]: static binaries (cgo off, trimmed paths,
# the version stamped) and their SHA256SUMS under bin/release/.
RELEASE_TARGETS ?= linux/amd64 linux/arm64 darwin/arm64
RELEASE_DIR     := $(BIN)/release
release:
	@test -n "$(VERSION)" || { echo "make release: no version: run it in a git checkout or give VERSION=v1.2.3" >&2; exit 2; }
	rm -rf $(RELEASE_DIR)
	mkdir -p $(RELEASE_DIR)
	@set -e; for target in $(RELEASE_TARGETS); do \
		os=$${target%/*}; arch=$${target#*/}; \
		echo "GOOS=$$os GOARCH=$$arch $(BUILD) -o $(RELEASE_DIR)/pmux-$(VERSION)-$$os-$$arch ."; \
		GOOS=$$os GOARCH=$$arch $(BUILD) -o $(RELEASE_DIR)/pmux-$(VERSION)-$$os-$$arch .; \
	done
	cd $(RELEASE_DIR) && if command -v sha256sum >/dev/null; then sha256sum pmux-*; else shasum -a 256 pmux-*; fi > SHA256SUMS
	@cat $(RELEASE_DIR)/SHA256SUMS

test:
	$(GO) vet ./...
	$(GO) test -race -timeout 9m ./...

# gofmt, vet, and a build for every platform pmux supports, so none breaks
# unseen: every one is tried, and any failure fails the target.
CROSS_GOOS ?= linux darwin freebsd
lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...
	@status=0; for os in $(CROSS_GOOS); do \
		echo "GOOS=$$os $(GO) build ./..."; \
		GOOS=$$os $(GO) build ./... || { echo "make lint: the $$os build fails" >&2; status=1; }; \
	done; exit $$status

clean:
	rm -rf $(BIN)

# Benchmarks side by side with gunicorn and unicorn (bench/): loopback, every
# load bounded; writes BENCHMARKS.md. BENCH_IDLE shortens the 30 s idle
# measurement, BENCH_RUNS sets the repetitions (see bench/main.go).
# BENCH_ONLY=scale make bench runs only the "cost as the work grows" table
# (pmux at 4 to 1024 workers, unicorn at 4, 64, 256; about 5 minutes) and
# splices it into the existing BENCHMARKS.md.
bench: build
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/bench ./bench
	PMUX=$(BIN)/pmux BENCH_GO_APP=$(BIN)/example-go ./$(BIN)/bench

# The fault suite in its long form (a short form runs in make test): each
# fault repeated more often.
faults:
	PMUX_FAULTS=long $(GO) test -race -count=1 -timeout 20m -run '^TestFault' -v ./integration/

# make soak DURATION=10m: random reloads, scaling and upgrades under load.
DURATION     ?= 10m
SOAK_TIMEOUT ?= 3h
soak:
	PMUX_SOAK=$(DURATION) $(GO) test -race -count=1 -timeout $(SOAK_TIMEOUT) -run '^TestSoak$$' -v ./integration/

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
