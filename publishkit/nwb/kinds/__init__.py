"""The object kinds a template can build, one module each."""
