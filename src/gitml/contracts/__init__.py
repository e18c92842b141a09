"""Typed JSON contracts that one package writes and a package beside it reads.

`monitoring` is reports/monitoring/monitoring.json: `gitml.monitor` writes it and the model site
(`gitml.review.site`) reads it; they are siblings, which may not import each other, so the
contract sits below both. (models/model.json's contract is `gitml.core.model_meta`.)
"""
