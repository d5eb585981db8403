# mxfwd — see README.md. `make run` and `make test` are the two commands a
# newcomer needs; everything else is for developers.
GO      ?= go
DRIVER  ?= swpfe
FUZZTIME ?= 20s
PKGS    := ./...

.PHONY: all build run demo test test-short bench bench-full bench-go bench-msdp bench-afpacket bench-datapath bpf fuzz lint ci clean

all: build

build:
	$(GO) build -o bin/re ./cmd/re
	$(GO) build -o bin/fpc ./cmd/fpc
	$(GO) build -o bin/perf ./cmd/perf
	$(GO) build -o bin/lab ./cmd/lab

run: build
	DRIVER=$(DRIVER) ./scripts/run.sh

demo: build
	DRIVER=$(DRIVER) ./scripts/demo.sh

# The whole suite, race detector on. Tests that need root (network
# namespaces, AF_PACKET) skip with a message when not root.
test: build
	$(GO) vet $(PKGS)
	$(GO) test -race -timeout 15m $(PKGS)

test-short:
	$(GO) test -short $(PKGS)

# Short profile of every driver, the kernel comparison (root) and the
# control plane: a few minutes; writes perf/results/<date>/ and updates
# perf/README.md. Not run in CI.
BENCH_OUT ?= perf/results/$(shell date +%F)
bench: build
	bin/perf run --profile short --out $(BENCH_OUT) --readme perf/README.md

# The full matrix (about an hour).
bench-full: build
	bin/perf run --profile full --out $(BENCH_OUT)-full --readme perf/README.md

# The packages' own Go benchmarks.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1s ./ipc/ ./drivers/swpfe/ ./drivers/trio/ ./re/kernel/

# MSDP's scale goals (#15): the engine and codec benchmarks, then one run
# of the RE with 1,000 peers and 1M SAs (about 30 s; see README, MSDP).
bench-msdp:
	$(GO) test -run '^$$' -bench . ./re/msdp/ ./re/msdp/msdpmsg/
	$(GO) test -run '^$$' -bench MSDPScale -benchtime 1x -timeout 20m ./re/server/

# afpacket next to the in-kernel baselines (nft dup and the bridge, ipmr
# where the kernel has it) on veth pairs (root; about 15 minutes).
bench-afpacket: build
	./perf/afpacket/bench.sh

# afpacket and xdp side by side with the baselines in one interleaved run:
# copies/s, router CPU per copy and loss at N = 1..64, 64 and 1518 bytes,
# the goals of issue #12 and plots (root; about 40 minutes).
bench-datapath: build
	./perf/datapath/bench.sh

# Regenerates the xdp driver's BPF object from its C source (needs clang,
# llvm and libbpf-dev; the object is committed, building needs none of it).
bpf:
	$(MAKE) -C drivers/xdp/bpf

# Runs every fuzz target for FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

ci: lint test

clean:
	rm -rf bin
