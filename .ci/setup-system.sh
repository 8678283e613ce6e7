#!/usr/bin/env bash
# System tools the real-host tests and the serf race need: iproute2 (network namespaces),
# nftables (loss and partitions inside them), dnsmasq (the DNS server of the discovery test;
# dnsmasq-base is the binary alone: the dnsmasq package also starts a system service on port 53
# and, where resolvconf is installed, makes it the machine's resolver), serf (the peer we race),
# chromium (the dashboard's real-browser test, driven by puppeteer-core), promtool (checks /metrics),
# and for the container test (test/deploy/container.test.ts): podman with runc (its default runtime,
# crun, is left out: it refuses hybrid cgroup hosts), mmdebstrap (the local base image), the CNI
# dnsname plugin (container names and aliases in DNS on a podman network) and iptables (the CNI bridge's NAT).
# Idempotent and quiet.
set -euo pipefail
# promtool comes out of Debian's prometheus package unpacked, not installed: installing it would
# start a Prometheus server on the machine, and only its checker is wanted.
install_promtool() {
  command -v promtool >/dev/null 2>&1 && return 0
  local dir
  dir=$(mktemp -d)
  (cd "$dir" && apt-get download prometheus >/dev/null 2>&1 && dpkg-deb -x prometheus_*.deb x && install -m 0755 x/usr/bin/promtool /usr/local/bin/promtool) ||
    echo "setup-system: promtool not installed; the metrics test checks its own parser only" >&2
  rm -rf "$dir"
}
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
command -v serf >/dev/null 2>&1 || need+=(serf)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v promtool >/dev/null 2>&1 || need+=(promtool)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
[ -x /usr/lib/cni/dnsname ] || need+=(golang-github-containernetworking-plugin-dnsname)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: cannot install ${need[*]} (needs root and apt-get); the tests that need them will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
pkgs=()
for p in "${need[@]}"; do [ "$p" = promtool ] || pkgs+=("$p"); done
if [ ${#pkgs[@]} -gt 0 ]; then apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; fi
install_promtool
