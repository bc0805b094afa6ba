"""The built-in procedural world: rooms, camera walks, renders, and writers of each source's
release layout (ScanNet, ScanNet++, ARKitScenes), so tests and `make dataset` exercise the real
readers end to end."""
