"""Serving: the REST service, batch predictions and the prediction log."""
