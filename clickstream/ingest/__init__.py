"""Importers that turn real clickstream exports into the landing layout (docs/contracts.md §1).

After an import, ``stage``, ``load``, ``transform`` and ``analyze`` run unchanged: the landing
folder is the only interface between a source and the rest of the pipeline.
"""

from clickstream.ingest.rees46 import IngestSummary, ingest_rees46

__all__ = ["IngestSummary", "ingest_rees46"]
