"""Catalog: categories, products and their variants."""
