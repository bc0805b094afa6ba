"""Dataset storage: HDF5 schema, atomic shard writer, reader, validation and exports."""
