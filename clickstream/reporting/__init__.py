"""Building blocks of ``clickstream analyze``: the analysis catalogue, compilation, execution.

``clickstream.analyze`` wires them together; ``clickstream.charts`` and ``clickstream.dashboard``
turn the results into PNGs and one HTML page.
"""
