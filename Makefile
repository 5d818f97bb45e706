# Switchyard build targets. Everything the tests need is built from here.
GO        ?= go
PKGS      ?= ./...
BIN       := $(CURDIR)/bin
VERSITYGW_VERSION ?= v1.8.0
VERSITYGW := $(BIN)/versitygw
TESTFLAGS ?= -race -count=1 -timeout 20m
FUZZTIME  ?= 20s

.PHONY: all demo test vet fmt-check unit bench fuzz clean tools

all: test

## demo: run the live demo against in-process simulators (no network, 60 s).
demo: tools
	$(GO) run ./cmd/demo --duration 60s

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
