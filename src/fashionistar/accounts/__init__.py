"""Accounts: the user model and authentication."""
