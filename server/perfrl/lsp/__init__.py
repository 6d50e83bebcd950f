"""The PerfRL language server (pygls): code actions, code lenses, inlay hints and commands
that propose verified, measured faster versions of Python functions.

Entry points: ``perfrl-lsp`` / ``python -P -m perfrl.lsp`` (:mod:`perfrl.lsp.main`). The surface
shared with editor clients is documented in ``docs/lsp-protocol.md``; the server is built by
:func:`perfrl.lsp.setup.create_server`.
"""
