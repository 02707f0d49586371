"""Shared test support: real lobby processes and their API."""
