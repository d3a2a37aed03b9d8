"""PySpark staging: validate, quarantine, dedupe, correct clock skew, flag bots, sessionize,
write the Parquet lake and bulk-load PostgreSQL's ``raw`` schema with COPY.

Runs on ``local[N]`` or a standalone cluster (``--spark-master spark://host:7077``) unchanged.
"""
