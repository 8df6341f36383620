# streamfit: every target installs what it needs first (npm ci, then the generated fixtures).
NODE_BIN := node_modules/.bin
FIXTURES := fixtures/generated/shapes/README.txt

.PHONY: setup fixtures kernels check-kernels train test typecheck lint format bench sweep slurm-up slurm-down clean webgpu-sim

setup: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

fixtures: $(FIXTURES)

$(FIXTURES): node_modules/.installed scripts/make-fixtures.ts
	$(NODE_BIN)/tsx scripts/make-fixtures.ts fixtures/generated/shapes 80

# The compiled SIMD kernels (src/kernels/assembly/*.ts → kernels.wasm) are committed, so a user's `npm ci` suffices;
# `make kernels` rebuilds them with the pinned AssemblyScript, `make check-kernels` (run by `make test`) fails on a stale artifact.
kernels: setup
	$(NODE_BIN)/tsx scripts/build-kernels.ts

check-kernels: setup
	$(NODE_BIN)/tsx scripts/build-kernels.ts --check

# Each run gets its own folder (runs/default-<time>), so running it again never touches an earlier run.
train: setup fixtures
	bin/streamfit.js train --config pipelines/default.ts --name default-$$(date +%Y%m%d-%H%M%S)

sweep: setup fixtures
	bin/streamfit.js sweep --config pipelines/sweep.ts --trials 6

typecheck: setup
	$(NODE_BIN)/tsc --noEmit

# One formatter and linter (Biome): `make format` rewrites, `make lint` (and so `make test`) refuses what it would change.
lint: setup
	$(NODE_BIN)/biome check .

format: setup
	$(NODE_BIN)/biome check --write .

# A software WebGPU adapter (Dawn's OpenGL ES backend on Mesa's llvmpipe) from the distribution's packages, for machines
# without a GPU; the webgpu tests run on it. Idempotent: installs only what is missing.
webgpu-sim: setup
	scripts/webgpu-sim.sh

# test/slurm.test.ts brings a single-node Slurm cluster up itself (scripts/slurm-dev.sh: root and apt on Debian) and down
# again; a machine that cannot run one fails those tests with what to do. If the test run dies before its clean-up, the
# line after it stops a cluster the tests started (never one a developer brought up). scripts/run-tests.sh gives the tests
# a temporary directory of their own and fails the run if they leave anything in it.
test: setup fixtures typecheck lint check-kernels webgpu-sim
	scripts/run-tests.sh; status=$$?; scripts/slurm-dev.sh down --if-owner tests; exit $$status

# A single-node Slurm cluster for trying `streamfit sweep --executor slurm`: eval "$$(make -s slurm-up)", then make slurm-down.
slurm-up:
	@scripts/slurm-dev.sh up

slurm-down:
	scripts/slurm-dev.sh down

bench: setup
	bin/streamfit.js bench pipeline --images 400 --json

clean:
	rm -rf runs fixtures/generated
