"""Screens: the main explorer and its modals (detail, delete, export, help, choice)."""
