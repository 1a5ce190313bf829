"""Fashionistar: a Django 6 shop that the field guide runs."""
