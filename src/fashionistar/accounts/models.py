"""Accounts: the shop's user model, custom from the first migration."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A customer or staff member.

    A custom model from the first migration costs nothing now and saves a painful
    migration later (Django's docs recommend it for every new project).
    """
