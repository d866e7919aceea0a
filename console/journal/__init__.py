"""The crash-safe journal (SQLite): rolls, hosts, events, the roll lock, the state folder."""
