"""Tests of the deployment files in deploy/, run with the real programs they configure."""
