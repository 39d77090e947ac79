"""The release: the pipeline over every stage, its plan, and the S3 release."""
