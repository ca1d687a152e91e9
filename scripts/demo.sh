#!/bin/bash
# Build Stratus and the test guest, then boot a demo microVM: the guest's serial
# console is this terminal (prompt "guest# ", try: help, info, echo hi, poweroff)
# and a QMP monitor listens on a unix socket whose path is printed first.
# (README command (1) runs scripts/setup-deps.sh first.)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${STRATUS_BUILD_DIR:-build}

[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD"
ninja -C "$BUILD"

KERNEL=$BUILD/tests/guest/bzImage
dir=$(mktemp -d /tmp/stratus-demo.XXXXXX)
trap 'rm -rf "$dir"' EXIT
QMP=$dir/qmp.sock

cat <<MSG

Stratus demo microVM: 256 MiB, 2 vCPUs, kernel $KERNEL
  QMP socket:  $QMP
  QMP client:  /usr/bin/python3 $ROOT/tests/functional/stratus_vm.py qmp $QMP query-status
               (any command name or raw JSON; 'quit' stops the VM)
  Console:     this terminal. Commands: help, info, echo <text>, mem ..., irq,
               poweroff (ends the VM), reboot (ends the VM on microvm).

MSG

set +e
"$BUILD/stratus" -name demo -machine microvm -m 256M -smp 2 \
    -kernel "$KERNEL" -append "console=ttyS0 demo=1" \
    -serial stdio -qmp "unix:$QMP,server,nowait"
status=$?
echo
echo "stratus exited with status $status"
exit $status
