"""Scene sources: readers that turn a dataset release into ``mosaic.structures.Scene``."""
