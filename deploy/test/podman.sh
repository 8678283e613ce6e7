# Sourced by build-image.sh, and run by test/deploy/container.test.ts as `bash deploy/test/podman.sh`:
# the global podman flags and the ulimits that make podman work on hosts like the ones that develop this
# project (hybrid cgroups, hard limits below podman's defaults). Run, it prints two lines: the global
# flags, then the `podman run` flags (no argument has a space).
#
# runc and cgroupfs: podman's default runtime, crun, refuses hybrid (v1 + v2) cgroup hosts.
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)

# The ulimits every container (a build's RUN steps included) gets. podman's defaults (nofile 1048576)
# can exceed the machine's hard limits, and runc then refuses to start the container. nproc can be no
# higher than the limit conmon runs under (podman lowers its own to 32768); it counts every process of
# the user on the whole machine (the build runs as root), so it stays at that ceiling rather than low.
ulimit_args() {
  local n u
  n=$(ulimit -Hn) u=$(ulimit -Hu)
  if [ "$n" = unlimited ] || [ "$n" -gt 1048576 ]; then n=1048576; fi
  if [ "$u" = unlimited ] || [ "$u" -gt 32768 ]; then u=32768; fi
  printf -- '--ulimit\nnofile=%s:%s\n--ulimit\nnproc=%s:%s\n' "$n" "$n" "$u" "$u"
}
mapfile -t ULIMITS < <(ulimit_args)

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "${PODMAN[*]:1}"
  echo "${ULIMITS[*]}"
fi
