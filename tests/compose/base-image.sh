#!/bin/sh
# Makes sure the engine (docker or podman) has a debian:bookworm-slim image, the base of both
# Dockerfiles. Where no image registry is reachable, builds a minimal Debian
# root file system with debootstrap from the mirror apt already uses and
# imports it under that name. The image stays cached: a second run returns
# at once.
#
# Environment: ENGINE (docker or podman; default docker), BASE_IMAGE
# (debian:bookworm-slim), DEBIAN_MIRROR (read from apt's sources when unset).
set -eu

BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
ENGINE=${ENGINE:-docker}

say() { echo "base-image: $*" >&2; }

# "image inspect" is what both engines have ("podman image exists" is
# podman's only).
if "$ENGINE" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
	exit 0
fi

# A registry may be reachable after all (a user's machine): try it briefly.
if timeout 60 "$ENGINE" pull "docker.io/library/$BASE_IMAGE" >/dev/null 2>&1; then
	"$ENGINE" tag "docker.io/library/$BASE_IMAGE" "$BASE_IMAGE"
	say "pulled $BASE_IMAGE"
	exit 0
fi

mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
	mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources \
		2>/dev/null | grep -v security | head -n 1 || true)
fi
if [ -z "$mirror" ]; then
	mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) bookworm .*/\2/p' \
		/etc/apt/sources.list 2>/dev/null | head -n 1 || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/sqlite-fcgi-rootfs.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT INT TERM
say "no $BASE_IMAGE image: building one with debootstrap from $mirror"
timeout 900 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
	tail -n 20 "$rootfs.log" >&2
	rm -f "$rootfs.log"
	exit 1
}
rm -f "$rootfs.log"
# What the official slim image trims, and a clean apt state.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
	"$rootfs"/var/cache/apt/archives/*.deb
# No -q: docker import does not have it.
tar -C "$rootfs" -c . | "$ENGINE" import \
	--change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	- "$BASE_IMAGE" >/dev/null
say "imported $BASE_IMAGE"
