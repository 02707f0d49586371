"""The arena: a small TCP game server and client on the Playlink SDKs, and a one-command start.

- `python -m examples.arena.run [lobby serve options]`: the lobby with two arena servers registered.
- `python -m examples.arena.server`: one arena server (registers or takes its id and secret).
- `python -m examples.arena.client`: the game client the launcher hands `arena://join?...` URLs to.

After the reference handshake the arena speaks newline-delimited JSON, server to client only:
`{"type": "players", "server": NAME, "you": {id, name}, "players": [{id, name}, ...]}`, sent on
admission and whenever someone arrives or leaves.
"""
