"""The rollout engine, in rooms; see docs/ARCHITECTURE.md."""
