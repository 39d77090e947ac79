"""Documents publishkit reads and writes: manifests, notes, versions, schemas."""
