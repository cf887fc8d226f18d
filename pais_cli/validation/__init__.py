"""Validation: checks over a model's files that produce a report; the report gates push and pull."""
