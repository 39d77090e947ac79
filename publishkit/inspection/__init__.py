"""The inspect stage: nwbinspector and DANDI's checks, cached and in parallel."""
