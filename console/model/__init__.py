"""Pure data: events, inventory, policy, specs, findings, durations, windows. Imports nothing else of slowroll."""
