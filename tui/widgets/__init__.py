"""Panes of the main screen, one per module."""
