"""publishkit's tests: they mirror the package; scenarios/ spans all of it."""
