"""The drift audit: findings before a reboot, regressions after it, the fleet audit."""
