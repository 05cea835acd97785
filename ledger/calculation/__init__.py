"""Pure calculations of scores, pay and portfolio policy from a rule set and plain inputs."""
