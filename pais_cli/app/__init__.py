"""The application layer: one module per use case, composing the libraries below it.

The CLI calls only this package; nothing here reads the environment or prints.
"""
