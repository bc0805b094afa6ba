"""Reports on a finished dataset: statistics tables and plots."""
