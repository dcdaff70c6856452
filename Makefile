# cdnnode: make run | make test | make build | make bench | make fuzz | make screenshot
GO      ?= go
BIN     := bin/cdnnode
CONFIG  ?= config.toml
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
FUZZTIME ?= 30s

.PHONY: build run test vet bench fuzz screenshot clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/cdnnode

# The demo origin on 127.0.0.1:8081 and the node on 127.0.0.1:8080 (admin
# on 127.0.0.1:9090); Ctrl-C stops both.
run: build
	@echo "node:   curl -i http://127.0.0.1:8080/obj/hello   (again for a HIT)"
	@echo "admin:  curl http://127.0.0.1:9090/metrics"
	@trap 'kill 0' INT TERM EXIT; \
	./$(BIN) origin --listen 127.0.0.1:8081 & \
	./$(BIN) serve -c $(CONFIG)

# vet, then every test under the race detector; fuzz seed corpora run as
# ordinary tests. The end-to-end suites (node, the binary) run again with
# the stdlib HTTP/1.1 engine: the first pass has the default, fast.
test: vet
	$(GO) test -race -count=1 ./...
	CDNNODE_TEST_HTTP1=stdlib $(GO) test -race -count=1 ./node/ ./cmd/cdnnode/

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt needed"; exit 1; }

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The loadtest HTML report (a single run and a comparison) rendered by
# headless Chromium into screenshots/ (apt-get install chromium first); the
# test fails if a page renders blank.
screenshot:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { echo "screenshot needs chromium (apt-get install chromium)"; exit 1; }
	mkdir -p screenshots
	LOADTEST_SCREENSHOT_DIR=$(CURDIR)/screenshots $(GO) test -count=1 -run 'TestHTML/headless' -v ./loadtest/

# Each fuzz target for FUZZTIME (one package at a time: go test allows one
# -fuzz target per run).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
