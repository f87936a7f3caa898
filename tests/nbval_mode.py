"""How nbval compares the chapters on this machine: prints the extra pytest flag (or nothing).

The chapters' stored outputs come from an x86-64 CPU of the kind CI runs on. There nbval compares
every cell's text output. Elsewhere the network's arithmetic can round differently, so a loss's
last digits, or a character sampled where two were nearly tied, can differ: on a GPU or Apple's
MPS always, and on another CPU sometimes (another instruction set, another matmul kernel; CI's
machines have differed in both). A cell whose output hangs on a tie that only rounding breaks
(chapter 7's confidence decoding from an empty canvas) starts with `# NBVAL_IGNORE_OUTPUT`.
In "lax" mode nbval runs every cell (an error still fails) but compares only the cells tagged
`nbval-check-output`, those whose output does not depend on the floating point (shapes, counts,
texts computed on the CPU, the self-checks' verdicts, saved benchmark results).

The mode is strict on an x86-64 CPU (the reference machine's kind) and lax on an accelerator or
an ARM CPU such as Apple silicon's; `DLM_NBVAL=strict` or `DLM_NBVAL=lax` chooses it (lax on an
x86-64 CPU whose rounding differs from the reference machine's).
`make test` passes this script's output to pytest.
"""

import os
import platform
import sys

from dlm_core.device import pick_device

try:
    device = pick_device()
except ValueError as e:
    sys.exit(f"make nbval: error: {e}")
reference_kind = device.type == "cpu" and platform.machine().lower() in ("x86_64", "amd64")
mode = os.environ.get("DLM_NBVAL") or ("strict" if reference_kind else "lax")
if mode not in ("strict", "lax"):
    sys.exit(f"make nbval: error: DLM_NBVAL={mode!r}; choose strict or lax")
if mode == "lax":
    print(f"nbval on {device.type} ({platform.machine()}), lax: comparing only the cells tagged nbval-check-output", file=sys.stderr)
    print("--nbval-lax")
