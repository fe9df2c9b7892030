# asyncjobs: every command a person runs is a target here.
STACK ?= dev
GO    ?= go
# plan-diff compares the working tree with this git revision.
BASE  ?= origin/main
# policy checks this plan (make plan writes build/<stack>/plan.json).
PLAN  ?= build/$(STACK)/plan.json

.PHONY: all plan plans plan-diff policy policies ops test unit rehearse fmt-check vet lint sh-check bench tools clean

all: test

## plan: show what STACK (default dev) will create, offline; writes build/$(STACK)/plan.json
plan:
	$(GO) run ./cmd/plan -stack $(STACK)

## plans: plan every Pulumi.<stack>.yaml quietly
plans:
	@for f in Pulumi.*.yaml; do s=$${f#Pulumi.}; s=$${s%.yaml}; $(GO) run ./cmd/plan -quiet -stack $$s || exit 1; done

## plan-diff: what this change does to STACK's plan compared with BASE (default origin/main), each change as the real gcp and Kubernetes provider plugins decide (provided first by scripts/tools.sh); FAIL_ON_CHANGE=1 exits 1 on any change
plan-diff:
	@scripts/tools.sh ensure pulumi-resource-gcp && scripts/tools.sh ensure pulumi-resource-kubernetes
	@$(GO) run ./cmd/plandiff -base '$(BASE)' -stack '$(STACK)' $(if $(filter 1 true yes,$(FAIL_ON_CHANGE)),-fail-on-change)

## policy: the security and reliability rules over PLAN (default build/$(STACK)/plan.json, planned first) and its manifests
policy:
	@if [ '$(origin PLAN)' = file ]; then $(GO) run ./cmd/plan -quiet -stack '$(STACK)'; fi
	$(GO) run ./cmd/policy -plan '$(PLAN)'

## policies: plan every stack and run the rules over each
policies: plans
	@for f in Pulumi.*.yaml; do s=$${f#Pulumi.}; s=$${s%.yaml}; $(GO) run ./cmd/policy -plan build/$$s/plan.json || exit 1; done

## test: formatting, vet, the linters, shell scripts, the real tools the tests need, every test, and the rules over every stack
test: fmt-check vet tools lint sh-check
	$(GO) test -count=1 -timeout 30m ./...
	@$(MAKE) --no-print-directory policies

## unit: the inner loop: formatting, vet and every test that needs no external tool (go test -short); make test runs them all
unit: fmt-check vet
	$(GO) test -short -count=1 ./...

## rehearse: every stack file through the real Pulumi engine, the Kubernetes half applied by the real provider to a real API server (make test runs it too)
rehearse: tools
	$(GO) test -count=1 -timeout 30m ./internal/testenv/rehearsal/...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## lint: golangci-lint (pinned, built by scripts/tools.sh) with the linters of .golangci.yml
lint: tools
	"$$(scripts/tools.sh path golangci-lint)" run ./...

sh-check: tools
	shellcheck scripts/*.sh .ci/run

## bench: benchmarks of planning the dev stack and 10x / 100x synthetic stacks, with the linearity check
bench:
	$(GO) test -run '^$$' -bench 'BenchmarkPlan' -benchmem -count=1 ./stacks/ | tee build-bench.txt
	$(GO) run ./cmd/benchcheck -max-ratio 150 build-bench.txt

## ops: build the operator commands (enqueue, deadletters) into bin/
ops:
	$(GO) build -o bin/ ./cmd/enqueue ./cmd/deadletters

## tools: build and cache the real tools the tests use (kube-apiserver, etcd, pulumi, golangci-lint and pulumi-resource-kubernetes from the Go module proxy; shellcheck from PATH or apt-get)
tools:
	scripts/tools.sh ensure all

clean:
	rm -rf build build-bench.txt
