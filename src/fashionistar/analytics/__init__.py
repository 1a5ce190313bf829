"""Reporting facts, written by tasks on the analytics queue."""
