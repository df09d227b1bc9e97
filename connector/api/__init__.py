"""The HTTP routers: thin layers that validate a request, call the service and write JSON.

A router holds no SQL and no business rule; each maps one resource of the contract.
"""
