"""Example programs built on Playlink: games that show the whole join path working."""
