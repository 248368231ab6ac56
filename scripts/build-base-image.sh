#!/bin/sh
# Create the pinned Debian base image of docker/Dockerfile locally, without a
# registry: debootstrap (variant minbase, suite bookworm) from the same Debian
# mirror as this host's apt sources, trimmed like Debian's "slim" images, then
# `docker import` under the exact name the Dockerfile's BASE_IMAGE names.
#
# The tag is pinned in one place, the `ARG BASE_IMAGE=` line of docker/Dockerfile.
# The root filesystem tarball is cached outside the tree, keyed by the tag
# ($AUTOSHARD_IMAGE_CACHE, default ~/.cache/autoshard/images), so a second
# machine run only imports it; nothing happens when docker already has the image.
# Needs root for debootstrap (installed from Debian packages when missing).
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
tag=$(sed -n 's/^ARG BASE_IMAGE=//p' "$src/docker/Dockerfile" | head -n1)
[ -n "$tag" ] || { echo "build-base-image: no 'ARG BASE_IMAGE=' line in docker/Dockerfile" >&2; exit 1; }
suite=bookworm
cache=${AUTOSHARD_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/autoshard/images}
tarball="$cache/$(printf '%s' "$tag" | tr '/:' '__').rootfs.tar.gz"

if docker image inspect "$tag" >/dev/null 2>&1; then
	echo "build-base-image: $tag present"
	exit 0
fi

# The archive host this machine already uses (not the security archive).
host_mirror() {
	grep -hE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -v security | grep -oE 'https?://[^ ]+/debian/?' | sed 's#/$##' | head -n1
}
mirror=${DEBIAN_MIRROR:-$(host_mirror)}
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

if [ ! -s "$tarball" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "build-base-image: $tarball missing and not root (debootstrap needs root)" >&2
		exit 1
	fi
	if ! command -v debootstrap >/dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
	fi
	mkdir -p "$cache"
	work=$(mktemp -d "$cache/.rootfs.XXXXXX")
	trap 'rm -rf "$work"' EXIT INT TERM
	root="$work/root"
	echo "build-base-image: debootstrap $suite (minbase) from $mirror"
	debootstrap --variant=minbase --arch="$(dpkg --print-architecture)" \
		--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
		"$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
		tail -n 30 "$work/debootstrap.log" >&2
		echo "build-base-image: debootstrap failed" >&2
		exit 1
	}
	release=$(sed -n 's/^Version: //p; s/^Date: //p' "$root"/var/lib/apt/lists/*_dists_${suite}_Release 2>/dev/null |
		tr '\n' ' ' | sed 's/ $//')

	# Keep packages installed later small: no manuals, docs (except the
	# copyright files) or translations.
	cat >"$root/etc/dpkg/dpkg.cfg.d/autoshard-slim" <<'CFG'
# Container image: leave out manuals, documentation and translations.
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
	find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
	find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
	rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/groff/* "$root"/usr/share/lintian/*
	find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
	# Services never start during image builds; no recommends.
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
		>"$root/etc/apt/apt.conf.d/90autoshard-norecommends"
	# No caches, lists, logs, host identity or device nodes in the image.
	rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/* \
		"$root"/var/cache/debconf/*-old "$root"/dev/* "$root"/tmp/* "$root"/run/*
	: >"$root/etc/machine-id"
	printf '%s\n' "$release" >"$root/etc/autoshard-base-release"

	tar --numeric-owner -C "$root" -cf - . | gzip -1 >"$work/rootfs.tar.gz"
	mv "$work/rootfs.tar.gz" "$tarball"
	rm -rf "$work"
	trap - EXIT INT TERM
	echo "build-base-image: cached $tarball ($(du -m "$tarball" | cut -f1) MB)"
fi

release=$(tar -xzOf "$tarball" ./etc/autoshard-base-release 2>/dev/null || true)
docker import \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'ENV LANG=C.UTF-8' \
	--change 'CMD ["bash"]' \
	--change "LABEL io.autoshard.base.debian-release=\"$release\" io.autoshard.base.variant=\"debootstrap minbase $suite\"" \
	"$tarball" "$tag" >/dev/null
echo "build-base-image: imported $tag (Debian $release)"
