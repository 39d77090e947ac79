"""The local S3 and DANDI archive."""
