"""Full-reference metrics, one per module; each module declares ``SPECS``."""
