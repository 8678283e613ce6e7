#!/usr/bin/env bash
# System tools the real-host tests and the serf race need: iproute2 (network namespaces),
# nftables (loss and partitions inside them), dnsmasq (the DNS server of the discovery test;
# dnsmasq-base is the binary alone: the dnsmasq package also starts a system service on port 53
# and, where resolvconf is installed, makes it the machine's resolver), serf (the peer we race),
# chromium (the dashboard's real-browser test, driven by puppeteer-core). Idempotent and quiet.
set -euo pipefail
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
command -v serf >/dev/null 2>&1 || need+=(serf)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: cannot install ${need[*]} (needs root and apt-get); the tests that need them will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
