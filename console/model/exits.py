"""slowroll's exit codes: one documented set for the command line, the console and the headless face.

``resume || run`` wrappers and cron jobs read these; README.md and ``slowroll --help`` list them.
"""

from __future__ import annotations

EXIT_COMPLETE = 0  # every host rebooted and healthy
EXIT_STOPPED = 1  # the roll stopped by itself (automatic pause) or was aborted
EXIT_USAGE = 2  # bad command line, inventory or configuration
EXIT_NOTHING = 3  # nothing to do: no unfinished roll to resume, or the roll is already finished
EXIT_PROBLEMS = 4  # the roll finished, but some host failed or was skipped
EXIT_JOURNAL = 5  # the journal cannot be written (disk full, I/O error)
EXIT_OPERATOR = 130  # stopped by the operator (Ctrl-C, SIGTERM, q)

EPILOG = (
    "Exit codes: 0 complete (every host rebooted and healthy), 1 stopped by itself (automatic pause) "
    "or aborted, 2 usage or inventory error, 3 nothing to do (no unfinished roll to resume), "
    "4 finished but some host failed or was skipped, 5 the journal cannot be written (disk full, "
    "I/O error), 130 stopped by the operator."
)


def finished_code(failed: int, skipped: int) -> int:
    """The code of a roll that reached its end: 0 only when no host failed or was skipped."""
    return EXIT_PROBLEMS if failed or skipped else EXIT_COMPLETE
