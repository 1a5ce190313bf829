"""Root conftest: the stack, Django and the docs pages are set up by the project's plugin."""

pytest_plugins = ["fashionistar.testing.pytest_plugin"]
