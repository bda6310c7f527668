# make test-compose: docker-compose.yml built and run for real (both images,
# a load through nginx, the database checked inside its volume), with
# "docker compose" where a Docker engine answers, else podman-compose.
# See tests/compose/run.sh.

.PHONY: test-compose

test-compose:
	@deploy/install-deps.sh test compose
	tests/compose/run.sh
