#!/bin/sh
# Build hook of the "valkey" application (see ../.upsun/config.yaml).
#
# Upsun's build runs without root and without network services, with
# $PLATFORM_APP_DIR (deployed), $PLATFORM_CACHE_DIR (kept between builds, not
# deployed) and /tmp writable. So instead of `apt-get install` we:
#   1. run apt-get as a normal user with a private state directory to download
#      Debian packages (.deb) of Valkey and of autoshard's build dependencies,
#      checked against the Debian archive keyring as apt always does;
#   2. unpack them with `dpkg-deb -x` under $PLATFORM_APP_DIR/.deps (nothing is
#      compiled from Valkey's sources);
#   3. build autoshard (C, CMake) from the source tree named by AUTOSHARD_SRC
#      (default: ./autoshard, e.g. a git submodule) against those headers;
#   4. check with ldd that every binary finds all its libraries.
# Usage: sh valkey/upsun-build.sh   (from $PLATFORM_APP_DIR)
set -eu

APP_DIR=${PLATFORM_APP_DIR:-$(pwd)}
CACHE=${PLATFORM_CACHE_DIR:-/tmp/autoshard-build-cache}
DEPS=$APP_DIR/.deps
SUITE=${DEBIAN_SUITE:-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
KEYRING=${DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
AUTOSHARD_SRC=${AUTOSHARD_SRC:-$APP_DIR/autoshard}

# Valkey comes from backports on bookworm; its libraries that a stock image may
# lack are listed explicitly (apt-get download does not resolve dependencies;
# step 4 names anything still missing).
VALKEY_PKGS="valkey-server/$SUITE-backports valkey-tools/$SUITE-backports libjemalloc2 liblzf1 libatomic1"
BUILD_PKGS="libhiredis-dev libhiredis0.14 libjansson-dev libjansson4 libyaml-dev libyaml-0-2
	libssl-dev libssl3 pkg-config pkgconf pkgconf-bin libpkgconf3"

apt_root=$CACHE/apt
mkdir -p "$apt_root/lists/partial" "$apt_root/archives/partial" "$apt_root/etc/preferences.d" \
	"$apt_root/etc/apt.conf.d" "$apt_root/debs" "$DEPS"
cat >"$apt_root/etc/sources.list" <<EOF
deb [signed-by=$KEYRING] $MIRROR $SUITE main
deb [signed-by=$KEYRING] $MIRROR $SUITE-updates main
deb [signed-by=$KEYRING] $MIRROR $SUITE-backports main
EOF
# All apt settings in a private file read before any system configuration
# (APT_CONFIG), so no hook of the image's /etc/apt/apt.conf.d runs.
cat >"$apt_root/apt.conf" <<EOF
Dir::Etc::SourceList "$apt_root/etc/sources.list";
Dir::Etc::SourceParts "$apt_root/etc/none";
Dir::Etc::Parts "$apt_root/etc/apt.conf.d";
Dir::Etc::Preferences "$apt_root/etc/none";
Dir::Etc::PreferencesParts "$apt_root/etc/preferences.d";
Dir::State "$apt_root";
Dir::State::Lists "$apt_root/lists";
Dir::State::status "/var/lib/dpkg/status";
Dir::Cache "$apt_root";
Dir::Cache::Archives "$apt_root/archives";
Debug::NoLocking "true";
EOF
apt() {
	APT_CONFIG=$apt_root/apt.conf apt-get -q "$@"
}

echo "upsun-build: fetching package lists ($SUITE, $SUITE-backports)"
apt update >/dev/null
cd "$apt_root/debs"
rm -f ./*.deb
# shellcheck disable=SC2086 # word splitting of the package lists is wanted
apt download $VALKEY_PKGS $BUILD_PKGS >/dev/null
for deb in ./*.deb; do
	echo "upsun-build: unpacking $(basename "$deb")"
	dpkg-deb -x "$deb" "$DEPS"
done
cd "$APP_DIR"

triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
libdir=$DEPS/usr/lib/$triplet
export PKG_CONFIG_SYSROOT_DIR=$DEPS
export PKG_CONFIG_PATH=$libdir/pkgconfig:$DEPS/usr/share/pkgconfig
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PATH=$PATH:$DEPS/usr/bin
# The unpacked libfoo.so symlinks point to absolute paths (/usr/lib/...):
# repoint them into .deps so the linker finds the unpacked libraries.
for l in "$libdir"/*.so; do
	[ -L "$l" ] || continue
	t=$(readlink "$l")
	case $t in /*) ln -sf "$DEPS$t" "$l" ;; esac
done

# CMake: the image's, else a pip wheel in the build cache.
if ! command -v cmake >/dev/null 2>&1; then
	python3 -m venv "$CACHE/cmake-venv"
	"$CACHE/cmake-venv/bin/pip" install -q cmake
	PATH=$CACHE/cmake-venv/bin:$PATH
fi

if [ ! -f "$AUTOSHARD_SRC/CMakeLists.txt" ]; then
	echo "upsun-build: no autoshard source tree at $AUTOSHARD_SRC (set AUTOSHARD_SRC)" >&2
	exit 1
fi
echo "upsun-build: building autoshard from $AUTOSHARD_SRC"
cmake -S "$AUTOSHARD_SRC" -B "$CACHE/autoshard-build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_C_FLAGS="-I$DEPS/usr/include -I$DEPS/usr/include/$triplet" \
	-DCMAKE_EXE_LINKER_FLAGS="-L$libdir -Wl,-rpath-link,$libdir" >/dev/null
cmake --build "$CACHE/autoshard-build" -j"$(nproc)" --target autoshard autoshard-sidecar >/dev/null
mkdir -p "$APP_DIR/bin"
cp "$CACHE/autoshard-build/autoshard" "$CACHE/autoshard-build/autoshard-sidecar" "$APP_DIR/bin/"
ln -sf "../.deps/usr/bin/valkey-server" "$APP_DIR/bin/valkey-server"
ln -sf "../.deps/usr/bin/valkey-cli" "$APP_DIR/bin/valkey-cli"

missing=0
for b in "$APP_DIR/bin/autoshard-sidecar" "$APP_DIR/bin/autoshard" "$DEPS/usr/bin/valkey-server"; do
	if LD_LIBRARY_PATH=$libdir ldd "$b" | grep "not found"; then
		echo "upsun-build: $b misses the libraries above; add their packages to upsun-build.sh" >&2
		missing=1
	fi
done
[ "$missing" = 0 ]
"$DEPS/usr/bin/valkey-server" --version
echo "upsun-build: done"
