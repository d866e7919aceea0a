"""slowroll: supervise slow rolling reboots of a Linux fleet over SSH."""

__version__ = "0.1.0"
