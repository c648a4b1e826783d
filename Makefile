# The two commands of the README: `make cluster` (a healthy, initialised cluster) and `make test`.
.PHONY: cluster test test-unit setup build lint down bench
cluster:
	bash scripts/cluster.sh
test:
	bash scripts/test.sh
test-unit:
	npx vitest run --project unit
setup:
	bash scripts/setup.sh
build:
	npm run -s build
lint:
	npm run -s lint
down:
	node bin/vaultctl down
bench:
	node bench/bootstrap.mjs
