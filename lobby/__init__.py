"""The Playlink lobby: accounts, game servers, signed join tokens and their single-use redemption."""
