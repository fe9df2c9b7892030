# asyncjobs: every command a person runs is a target here.
STACK ?= dev
GO    ?= go

.PHONY: all plan plans ops test unit lint fmt-check vet deps-check bench tools clean

all: test

## plan: show what STACK (default dev) will create, offline; writes build/$(STACK)/plan.json
plan:
	$(GO) run ./cmd/plan -stack $(STACK)

## plans: plan every Pulumi.<stack>.yaml quietly
plans:
	@for f in Pulumi.*.yaml; do s=$${f#Pulumi.}; s=$${s%.yaml}; $(GO) run ./cmd/plan -quiet -stack $$s || exit 1; done

## test: formatting, vet, the real tools the tests need, and every test
test: fmt-check vet tools
	$(GO) test -count=1 -timeout 30m ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## bench: benchmarks of planning the dev stack and 10x / 100x synthetic stacks, with the linearity check
bench:
	$(GO) test -run '^$$' -bench 'BenchmarkPlan' -benchmem -count=1 ./stacks/ | tee build-bench.txt
	$(GO) run ./cmd/benchcheck -max-ratio 150 build-bench.txt

## ops: build the operator commands (enqueue, deadletters) into bin/
ops:
	$(GO) build -o bin/ ./cmd/enqueue ./cmd/deadletters

## tools: build and cache the real tools the tests use (kube-apiserver, etcd, pulumi)
tools:
	scripts/tools.sh ensure all

clean:
	rm -rf build build-bench.txt
