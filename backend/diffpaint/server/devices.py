"""The devices this server can run jobs on (imports torch)."""

from __future__ import annotations

import os
from typing import Any


def detect_devices() -> dict[str, Any]:
    import torch

    if torch.cuda.is_available():
        return {"device": "cuda", "devices": ["cpu", "cuda"], "device_name": torch.cuda.get_device_name(0),
                "torch": torch.__version__}
    return {"device": "cpu", "devices": ["cpu"], "device_name": f"CPU ({os.cpu_count()} threads)",
            "torch": torch.__version__}
