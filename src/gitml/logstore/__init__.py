"""The prediction log: what `gitml serve` writes (every answered prediction, and the feedback
labels) and what `gitml monitor` and `gitml harvest` read. A package of its own, below both."""
