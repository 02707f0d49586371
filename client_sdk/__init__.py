"""The Playlink client SDK: what game clients and game servers embed to talk to the lobby."""
