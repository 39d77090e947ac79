"""The object store: a versioned bucket, exact uploads, pinned reads."""
