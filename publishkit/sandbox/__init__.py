"""Local stand-ins for rehearsals and tests: S3 (moto) and a DANDI archive."""
