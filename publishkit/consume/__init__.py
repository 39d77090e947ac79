"""The consumer side: verify, fetch and export a published release."""
