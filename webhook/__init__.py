"""gitplane's admission webhook: keeps Git authoritative over a managed namespace.

decide.py takes the decision (pure, no HTTP), drift.py compares an object with Git,
server.py is the aiohttp transport; `make_app(desired, config, ready=...)` builds it.
"""
