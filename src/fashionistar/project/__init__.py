"""The project's wiring: settings, URLs, the ASGI and WSGI entry points, the API assembly."""
