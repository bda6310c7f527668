# make test-compose: docker-compose.yml built and run for real (both images,
# a load through nginx, the database checked inside its volume) on a Docker
# engine (started for the test if none answers, then stopped and the host's
# network put back); COMPOSE_ENGINE=podman runs it on podman + podman-compose.
# See tests/compose/test_compose.py.

COMPOSE_ENGINE ?= docker
export COMPOSE_ENGINE

.PHONY: test-compose

# The harness reads the setting names from build/sqlite-fcgi: build it first.
test-compose:
	@deploy/deps/install-deps.sh build test compose
	@$(MAKE) --no-print-directory all
	$(PYTHON) -m pytest -v -s -p no:cacheprovider tests/compose
