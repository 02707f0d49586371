"""The Playlink launcher: the strict local handler of a game's URL scheme, standard library only."""
