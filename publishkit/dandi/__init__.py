"""DANDI: organize into a dandiset folder, upload with dandi-cli."""
