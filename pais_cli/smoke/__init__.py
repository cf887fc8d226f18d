"""The sandbox inference smoke test: load and run the model once, isolated, with the engine
family that will serve it. The CLI process never loads the model: a sandboxed child does."""
