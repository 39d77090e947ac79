"""Reading a release where it lies: any file of any version, streamed at its pinned version."""
