"""API entry points: `drf` (sync, Django REST Framework) and `ninja` (async, django-ninja)."""
