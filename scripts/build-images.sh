#!/bin/sh
# Build the container images with the local Docker engine, no registry needed:
#   1. the pinned Debian base (scripts/build-base-image.sh, cached),
#   2. docker/Dockerfile as it is, passing this host's Debian mirror, tagged
#      ghcr.io/autoshard/autoshard:VERSION (VERSION from CMakeLists.txt),
# then print the image's size.
# Environment: AUTOSHARD_IMAGE_REPO (default ghcr.io/autoshard/autoshard),
# DEBIAN_MIRROR / DEBIAN_SECURITY_MIRROR (default: this host's apt sources).
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
repo=${AUTOSHARD_IMAGE_REPO:-ghcr.io/autoshard/autoshard}
version=$(sed -n 's/^project(autoshard VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[ -n "$version" ] || { echo "build-images: no version in CMakeLists.txt" >&2; exit 1; }

sources() {
	grep -hE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources 2>/dev/null | grep -oE 'https?://[^ ]+' | sed 's#/$##'
}
mirror=${DEBIAN_MIRROR:-$(sources | grep -E '/debian$' | head -n1)}
security=${DEBIAN_SECURITY_MIRROR:-$(sources | grep -E '/debian-security$' | head -n1)}
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
[ -n "$security" ] || security=http://deb.debian.org/debian-security
export DEBIAN_MIRROR="$mirror"

sh "$src/scripts/build-base-image.sh"

# The engine here has no BuildKit (no buildx): the classic builder runs the
# Dockerfile, which needs nothing BuildKit-only.
tag="$repo:$version"
echo "build-images: $tag"
DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} docker build --quiet --force-rm \
	--build-arg DEBIAN_MIRROR="$mirror" --build-arg DEBIAN_SECURITY_MIRROR="$security" \
	-t "$tag" -f "$src/docker/Dockerfile" "$src" >/dev/null 2>"${TMPDIR:-/tmp}/autoshard-build-images.$$" || {
	cat "${TMPDIR:-/tmp}/autoshard-build-images.$$" >&2
	rm -f "${TMPDIR:-/tmp}/autoshard-build-images.$$"
	exit 1
}
rm -f "${TMPDIR:-/tmp}/autoshard-build-images.$$"
bytes=$(docker image inspect -f '{{.Size}}' "$tag")
echo "build-images: $tag $(awk -v b="$bytes" 'BEGIN { printf "%.1f MB", b / 1e6 }')"
