"""The release pipeline and the S3 release."""
