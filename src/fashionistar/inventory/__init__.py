"""Inventory: stock per variant and the reservations orders hold."""
