"""Shared pytest configuration for the FincasKV Python suite."""
