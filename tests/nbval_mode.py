"""How nbval compares the chapters on this machine: prints the extra pytest flag (or nothing).

The chapters' stored outputs come from the CPU. On the CPU (`DLM_DEVICE=cpu`, or a machine
without CUDA or MPS) nbval compares every cell's text output. On an accelerator the network's
arithmetic rounds differently, so a loss's last digits, or a character sampled where two were
nearly tied, can differ: there nbval runs every cell (an error still fails) but compares only
the cells tagged `nbval-check-output`, those whose output does not depend on the device's
floating point (shapes, counts, texts computed on the CPU, the self-checks' verdicts, saved
benchmark results). `make test` passes this script's output to pytest.
"""

import sys

from dlm_core.device import pick_device

try:
    device = pick_device()
except ValueError as e:
    sys.exit(f"make nbval: error: {e}")
if device.type != "cpu":
    print(f"nbval on {device.type}: comparing only the cells tagged nbval-check-output "
          f"(DLM_DEVICE=cpu compares them all)", file=sys.stderr)
    print("--nbval-lax")
