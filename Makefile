# Switchyard build targets. Everything the tests need is built from here.
GO        ?= go
PKGS      ?= ./...
BIN       := $(CURDIR)/bin
VERSITYGW_VERSION ?= v1.8.0
VERSITYGW := $(BIN)/versitygw
PROMTOOL_VERSION ?= v0.316.0
PROMTOOL  := $(BIN)/promtool
JAEGER    := $(BIN)/jaeger
# protoc-gen-go matches go.mod's google.golang.org/protobuf.
PROTOC_GEN_GO_VERSION ?= v1.36.12
PROTOC_GEN_GO := $(BIN)/protoc-gen-go
ETCD      := $(BIN)/etcd
TESTFLAGS ?= -race -count=1 -timeout 20m
FUZZTIME  ?= 20s
DEMO_FLAGS ?= --duration 60s

.PHONY: all demo demo-versitygw test vet fmt-check unit bench fuzz clean tools tools-integration test-integration chromium web-screenshot proto tools-fleet test-fleet tools-etcd test-fleet-procs bench-compare bench-stalls test-compare

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

## test: vet, gofmt check, the race-enabled test suite and the fleet's
## in-memory cluster tests (what CI runs).
test: vet fmt-check unit test-fleet test-compare

## test-fleet: the fleet's tests on an in-memory proto.actor cluster, and
## the demo with --nodes. They run without -race: protoactor-go's remote
## layer races when several members share a process (see docs/fleet.md);
## the rest of ./fleet/ and ./cmd/demo/ runs with -race in unit.
test-fleet: tools-etcd
	ETCD=$(ETCD) $(GO) test -count=1 -timeout 5m ./fleet/...
	$(GO) test -count=1 -timeout 5m -run Nodes ./cmd/demo/

## test-fleet-procs: the fleet's multi-process test: three members as
## separate processes (internal/fleetnode) on a real etcd (bin/etcd) and a
## simulator that records every request (a few minutes; run by .ci/run after
## make test).
test-fleet-procs: tools-etcd
	ETCD=$(ETCD) $(GO) test -tags fleetprocs -count=1 -timeout 20m -v -run FleetProcesses ./fleettest/

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

unit: tools tools-etcd
	VERSITYGW=$(VERSITYGW) ETCD=$(ETCD) $(GO) test $(TESTFLAGS) $(PKGS)

## tools: build what the tests need into ./bin (the S3 server, from the Go module proxy).
tools: $(VERSITYGW)

$(VERSITYGW):
	GOBIN=$(BIN) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

## test-integration: the tests that drive real outside tools, built or
## installed by tools-integration: promtool (alert rules and dashboard
## queries, deploy/), a Jaeger collector (traces over OTLP) and headless
## Chromium (the demo's web view). They carry the integration build tag, so
## `make test` stays quick; .ci/run runs both.
test-integration: tools-integration
	VERSITYGW=$(VERSITYGW) PROMTOOL=$(PROMTOOL) JAEGER=$(JAEGER) $(GO) test $(TESTFLAGS) -tags integration -run 'Promtool|Alert|Expressions|Browser|Jaeger' ./deploy/ ./cmd/demo/ .

## tools-integration: promtool and Jaeger from the Go module proxy (Jaeger
## through its own module in tools/jaeger, so its dependencies stay out of
## go.mod), Chromium from Debian's packages.
tools-integration: tools $(PROMTOOL) $(JAEGER) chromium

$(PROMTOOL):
	GOBIN=$(BIN) $(GO) install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)

# Jaeger v1.75.0 is pinned in tools/jaeger/go.mod, a module of its own.
$(JAEGER): tools/jaeger/go.mod tools/jaeger/go.sum
	cd tools/jaeger && $(GO) build -o $(JAEGER) github.com/jaegertracing/jaeger/cmd/jaeger

chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

## web-screenshot: the README's picture of the demo's web view.
web-screenshot: chromium
	SWITCHYARD_SCREENSHOT=$(CURDIR)/docs/web-view.png $(GO) test -count=1 -tags integration -run TestWebViewInBrowser ./cmd/demo/

## bench: benchmarks with numbers for BENCHMARKS.md (not part of make test).
bench: tools
	VERSITYGW=$(VERSITYGW) SWITCHYARD_S3_LARGE=1 $(GO) test -run '^$$' -bench . -benchmem -benchtime 2s -timeout 30m ./bench/... ./providers/s3/... ./vectorindex/ ./actors/ .

## bench-compare: the facade, the actor API, the openai-go SDK and a direct
## net/http call against one loopback mock, interleaved, with ratios, CPU,
## allocations and added latency per request, per round and over all rounds
## (bench/compare is a module of its own, so the SDK is a dependency of this
## comparison only).
bench-compare:
	cd bench/compare && $(GO) run . -rounds 5

## bench-stalls: one execution trace of 6,000 sequential calls of the direct
## path and the facade: each call split into its time before the transport
## (and how much of it hand-offs waited to run), on the wire and after, how
## often each kind of goroutine ran for a long stretch and what ran while a
## hand-off waited (see BENCHMARKS.md, "Where the p99 goes", "fifth look").
bench-stalls:
	cd bench/compare && $(GO) run . -paths direct,facade -stalls 6000

## test-compare: the comparison benchmark's own tests (its module is separate,
## so ./... at the root does not reach it).
test-compare:
	cd bench/compare && $(GO) vet . && $(GO) test -race -count=1 .

## fuzz: run every fuzz target for FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## proto: regenerate the fleet's protobuf messages (fleet/fleetpb). The
## generated code is committed, so building needs neither protoc nor
## protoc-gen-go.
proto: tools-fleet
	cd fleet/fleetpb && PATH=$(BIN):$$PATH protoc --go_out=. --go_opt=paths=source_relative *.proto

## tools-fleet: protoc from Debian's packages, protoc-gen-go from the Go
## module proxy.
tools-fleet: $(PROTOC_GEN_GO)
	@command -v protoc >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y protobuf-compiler)

$(PROTOC_GEN_GO):
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

## tools-etcd: a single-node etcd server for the fleet's etcd tests
## (etcd's embed package, v3.5.21, pinned in tools/etcd/go.mod, a module of
## its own). Run it as
## bin/etcd -dir DIR -client http://127.0.0.1:23790 -peer http://127.0.0.1:23800;
## it prints "ready <client URL>" and stops on SIGTERM.
tools-etcd: $(ETCD)

$(ETCD): tools/etcd/go.mod tools/etcd/go.sum tools/etcd/main.go
	cd tools/etcd && $(GO) build -o $(ETCD) .

clean:
	$(GO) clean -testcache
