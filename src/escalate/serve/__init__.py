"""The HTTP service (the ``serve`` extra): ``escalate serve`` for bots not written in Python.

:func:`create_app` builds the ASGI app (FastAPI) over an engine; :func:`run` serves it
with uvicorn, with several worker processes sharing sessions through Redis. The
endpoints are listed in :mod:`escalate.serve.app`.
"""

from escalate.serve.app import create_app
from escalate.serve.config import ServeConfig
from escalate.serve.run import run

__all__ = ["ServeConfig", "create_app", "run"]
