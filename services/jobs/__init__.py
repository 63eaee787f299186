"""Batch jobs that run on EMR Serverless (Spark)."""
