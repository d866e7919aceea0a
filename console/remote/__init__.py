"""Talking to hosts: SSH with strict host keys, ssh config, facts, checks, hooks."""
