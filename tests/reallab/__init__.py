"""A lab of real Debian 12 hosts (systemd-nspawn containers) for end-to-end tests of slowroll.

See ``tests/reallab/README.md``. The library is ``tests.reallab.lab``; ``python -m tests.reallab cleanup``
removes what a crashed session left behind.
"""

from .lab import (
    GoldenImage,
    Lab,
    LabError,
    LabHost,
    cleanup_leftovers,
    lab_problems,
)

__all__ = ["GoldenImage", "Lab", "LabError", "LabHost", "cleanup_leftovers", "lab_problems"]
