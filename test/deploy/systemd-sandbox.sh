#!/usr/bin/env bash
# Runs a command the way systemd would run droptrace.service, on a host whose
# PID 1 is not systemd. Called as
#   unshare --mount --propagation private -- bash systemd-sandbox.sh ROOT STATE CAPS WORKDIR -- ENV... -- ARGV...
# in a private mount namespace (nothing here is visible outside it):
#   ROOT    an install tree from `scripts/install-service --root ROOT`; its /etc
#           and /opt are layered over the host's (read-only overlays), so the
#           unit's absolute paths (/etc/droptrace, /opt/droptrace/{app,node})
#           resolve to the install without touching the host's own files;
#   STATE   a directory holding lib/ log/ run/: bound writable on
#           /var/lib/droptrace, /var/log/droptrace, /run/droptrace
#           (StateDirectory=, LogsDirectory=, RuntimeDirectory=);
#   CAPS    CapabilityBoundingSet= as setpriv's list, e.g. +bpf,+perfmon.
# Emulated: ProtectSystem=strict (everything read-only but those three),
# ProtectHome=yes, PrivateTmp=yes, ProtectProc=invisible, UMask=0077,
# NoNewPrivileges=yes, SecureBits=noroot-locked, the bounding set, a clean
# environment holding only ENV, WorkingDirectory=. Not emulated: the system call
# filter and PrivateDevices (checked by systemd-analyze only).
set -euo pipefail
ROOT=$1 STATE=$2 CAPS=$3 WORKDIR=$4
shift 4
[ "$1" = -- ] || { echo "systemd-sandbox: expected --" >&2; exit 64; }
shift
ENVS=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do ENVS+=("$1"); shift; done
[ "${1:-}" = -- ] || { echo "systemd-sandbox: expected -- before the command" >&2; exit 64; }
shift

mkdir -p /run/droptrace   # the mount point systemd would create (RuntimeDirectory=)
for d in etc opt var; do
  mount -t overlay overlay -o "lowerdir=$ROOT/$d:/$d" "/$d"
done
mount --bind "$STATE/lib" /var/lib/droptrace
mount --bind "$STATE/log" /var/log/droptrace
mount --bind "$STATE/run" /run/droptrace
# PrivateTmp= / ProtectHome=: fresh /tmp and /var/tmp, empty read-only homes.
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
for h in /home /root /run/user; do
  [ -d "$h" ] && mount -t tmpfs -o ro,mode=0755 tmpfs "$h"
done
# ProtectProc=invisible: a proc instance that hides what we may not ptrace.
mount -t proc -o hidepid=invisible proc /proc
# ProtectSystem=strict: the root file system read-only (the overlays already are).
mount -o bind,remount,ro /
cd "$WORKDIR"
umask 0077
exec setpriv --bounding-set "-all,$CAPS" --inh-caps -all --ambient-caps -all \
  --no-new-privs --securebits +noroot_locked -- env -i "${ENVS[@]}" "$@"
