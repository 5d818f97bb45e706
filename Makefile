# Switchyard build targets. Everything the tests need is built from here.
GO        ?= go
PKGS      ?= ./...
BIN       := $(CURDIR)/bin
VERSITYGW_VERSION ?= v1.8.0
VERSITYGW := $(BIN)/versitygw
TESTFLAGS ?= -race -count=1 -timeout 20m
FUZZTIME  ?= 20s
DEMO_FLAGS ?= --duration 60s

.PHONY: all demo demo-versitygw test vet fmt-check unit bench fuzz clean tools

all: test

## demo: run the live demo against in-process simulators (no network, 60 s).
## It does not wait for versitygw: on a fresh clone the S3 server builds in
## the background (log in bin/versitygw-build.log) and the demo's S3 branch
## joins when it is ready.
demo:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/demo ./cmd/demo
	@if [ ! -x $(VERSITYGW) ]; then \
	  echo "demo: building versitygw in the background (log: $(BIN)/versitygw-build.log); the S3 branch joins when it is ready"; \
	  if command -v flock >/dev/null; then \
	    (flock -n $(BIN)/.versitygw-build.lock $(MAKE) --no-print-directory demo-versitygw >$(BIN)/versitygw-build.log 2>&1 &); \
	  else \
	    ($(MAKE) --no-print-directory demo-versitygw >$(BIN)/versitygw-build.log 2>&1 &); \
	  fi; \
	fi
	VERSITYGW=$(VERSITYGW) $(BIN)/demo $(DEMO_FLAGS)

## demo-versitygw: build versitygw into ./bin for the demo, so that the
## binary appears whole (built aside, then renamed).
demo-versitygw:
	GOBIN=$(BIN)/.versitygw-build $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)
	mv -f $(BIN)/.versitygw-build/versitygw $(VERSITYGW)

## test: vet, gofmt check and the race-enabled test suite (what CI runs).
test: vet fmt-check unit

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

unit: tools
	VERSITYGW=$(VERSITYGW) $(GO) test $(TESTFLAGS) $(PKGS)

## tools: build what the tests need into ./bin (the S3 server, from the Go module proxy).
tools: $(VERSITYGW)

$(VERSITYGW):
	GOBIN=$(BIN) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

## bench: benchmarks with numbers for BENCHMARKS.md (not part of make test).
bench: tools
	VERSITYGW=$(VERSITYGW) SWITCHYARD_S3_LARGE=1 $(GO) test -run '^$$' -bench . -benchmem -benchtime 2s -timeout 30m ./bench/... ./providers/s3/... ./vectorindex/ ./actors/ .

## fuzz: run every fuzz target for FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	$(GO) clean -testcache
