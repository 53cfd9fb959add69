"""The HTTP-stack comparison (docs/http-stack.md): a hyper proxy and its driver, run.py."""
