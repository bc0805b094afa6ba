"""Stages: wrap core functions into per-scene and per-chunk tasks that write shards."""
