"""The HTTP layer: routes, tokens, the error shape, security headers, CORS and rate limits,
timing, and the OpenAPI description. Views check their input and hand the work to
:mod:`server.store`, :mod:`server.serving` and :mod:`server.jobs`."""
